package model

import (
	"github.com/simsiam-go/simsiam/tfgraph"
)

// l2eps keeps the normalisation finite for an all-zero vector (as
// torch.nn.functional.normalize's eps does).
const l2eps = 1e-12

// L2Normalize scales each row of x [N, D] to unit length.
func L2Normalize(s *tfgraph.Scope, x Output) Output {
	sq := s.Sum(s.Square(x), true, 1)
	return s.Mul(x, s.Rsqrt(s.Maximum(sq, s.Const("eps", float32(l2eps*l2eps)))))
}

// NegCosine is D(p, z) = -mean over the batch of cos(p, z).
func NegCosine(s *tfgraph.Scope, p, z Output) Output {
	cos := s.Sum(s.Mul(L2Normalize(s.Child("p"), p), L2Normalize(s.Child("z"), z)), false, 1)
	return s.Neg(s.Mean(cos, false, 0))
}

// SymmetricLoss is L = D(p1, sg(z2))/2 + D(p2, sg(z1))/2. With stopGradient
// false the targets are not detached (the paper's collapsing ablation).
func SymmetricLoss(s *tfgraph.Scope, p1, p2, z1, z2 Output, stopGradient bool) Output {
	if stopGradient {
		z1, z2 = s.StopGradient(z1), s.StopGradient(z2)
	}
	half := s.Const("half", float32(0.5))
	d12 := NegCosine(s.Child("d12"), p1, z2)
	d21 := NegCosine(s.Child("d21"), p2, z1)
	return s.Identity("loss", s.Mul(half, s.Add(d12, d21)))
}

// MultiCropLoss is SimSiam's loss with k local views (multi-crop): every
// view predicts each full-size view's detached projection but its own,
//
//	L = [D(p1, sg(z2)) + D(p2, sg(z1)) + sum_j D(pj, sg(z1)) + D(pj, sg(z2))] / (2 (1 + k)),
//
// the mean over the 2 (1 + k) pairs; k 0 is SymmetricLoss. pLocal holds the
// k local views' predictions concatenated along the batch (view j in rows
// j*N..(j+1)*N-1 for N rows of z1).
func MultiCropLoss(s *tfgraph.Scope, p1, p2, z1, z2, pLocal Output, k int, stopGradient bool) Output {
	if k == 0 {
		return SymmetricLoss(s, p1, p2, z1, z2, stopGradient)
	}
	if stopGradient {
		z1, z2 = s.StopGradient(z1), s.StopGradient(z2)
	}
	d12 := NegCosine(s.Child("d12"), p1, z2)
	d21 := NegCosine(s.Child("d21"), p2, z1)
	// D over the k*N local rows against the targets tiled k times is the
	// mean of the k local views' D.
	dl1 := NegCosine(s.Child("dl1"), pLocal, s.Tile(z1, int32(k), 1))
	dl2 := NegCosine(s.Child("dl2"), pLocal, s.Tile(z2, int32(k), 1))
	local := s.Mul(s.Const("k", float32(k)), s.Add(dl1, dl2))
	pairs := s.Const("pairs", float32(2*(1+k)))
	return s.Identity("loss", s.Div(s.Add(s.Add(d12, d21), local), pairs))
}

// CollapseStd is the paper's collapse monitor: the standard deviation over the
// batch of the l2-normalised z, averaged over channels, times sqrt(D). It is
// about 1 for a healthy representation and tends to 0 when it collapses.
func CollapseStd(s *tfgraph.Scope, z Output, dim int64) Output {
	zn := L2Normalize(s, z)
	mean := s.Mean(zn, true, 0)
	std := s.Sqrt(s.Mean(s.Square(s.Sub(zn, mean)), false, 0))
	return s.Identity("z_std", s.Mul(s.Mean(std, false, 0), s.Sqrt(s.Const("dim", float32(dim)))))
}
