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

// CollapseStd is the paper's collapse monitor: the standard deviation over the
// batch of the l2-normalised z, averaged over channels, times sqrt(D). It is
// about 1 for a healthy representation and tends to 0 when it collapses.
func CollapseStd(s *tfgraph.Scope, z Output, dim int64) Output {
	zn := L2Normalize(s, z)
	mean := s.Mean(zn, true, 0)
	std := s.Sqrt(s.Mean(s.Square(s.Sub(zn, mean)), false, 0))
	return s.Identity("z_std", s.Mul(s.Mean(std, false, 0), s.Sqrt(s.Const("dim", float32(dim)))))
}
