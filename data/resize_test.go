package data

import (
	"math"
	"testing"
)

func TestTriangleTaps(t *testing.T) {
	sum := func(ws []float32) float64 {
		s := 0.0
		for _, w := range ws {
			s += float64(w)
		}
		return s
	}
	t.Run("identity", func(t *testing.T) {
		tp := triangleTaps(7, 7, 0, 7)
		for i := range 7 {
			if tp.first[i] != i || len(tp.weights[i]) != 1 || tp.weights[i][0] != 1 {
				t.Fatalf("output %d: first %d weights %v", i, tp.first[i], tp.weights[i])
			}
		}
	})
	t.Run("upsample 2x interior", func(t *testing.T) {
		// Output 3 of 4->8 has centre 3.5*0.5 = 1.75: between source
		// centres 1.5 (weight 0.75) and 2.5 (weight 0.25).
		tp := triangleTaps(4, 8, 0, 8)
		if tp.first[3] != 1 || len(tp.weights[3]) != 2 ||
			math.Abs(float64(tp.weights[3][0])-0.75) > 1e-6 || math.Abs(float64(tp.weights[3][1])-0.25) > 1e-6 {
			t.Fatalf("first %d weights %v", tp.first[3], tp.weights[3])
		}
		// Output 0 has centre 0.25, left of the first source centre: clamped.
		if tp.first[0] != 0 || len(tp.weights[0]) != 1 {
			t.Fatalf("edge: first %d weights %v", tp.first[0], tp.weights[0])
		}
	})
	t.Run("downsample widens and normalises", func(t *testing.T) {
		tp := triangleTaps(100, 10, 0, 10)
		for i := range 10 {
			if math.Abs(sum(tp.weights[i])-1) > 1e-5 {
				t.Fatalf("output %d weights sum to %v", i, sum(tp.weights[i]))
			}
			if i > 0 && i < 9 && len(tp.weights[i]) < 15 {
				t.Fatalf("output %d uses only %d taps for a 10x reduction", i, len(tp.weights[i]))
			}
		}
	})
	t.Run("offset", func(t *testing.T) {
		a := triangleTaps(30, 12, 0, 12)
		b := triangleTaps(30, 12, 2, 5)
		for i := range 5 {
			if a.first[i+2] != b.first[i] {
				t.Fatalf("offset taps differ at %d", i)
			}
		}
	})
}

func TestResizeShortCrop(t *testing.T) {
	// A horizontal ramp stays a non-decreasing ramp at any scale, and a
	// constant image stays constant.
	for _, tc := range []struct{ w, h, size int }{{40, 30, 8}, {5, 9, 16}, {300, 7, 3}, {1, 1, 4}, {2, 3, 2}} {
		src := make([]byte, tc.w*tc.h*3)
		for y := 0; y < tc.h; y++ {
			for x := 0; x < tc.w; x++ {
				p := (y*tc.w + x) * 3
				src[p], src[p+1], src[p+2] = byte(x*255/max(tc.w-1, 1)), 77, byte(y*255/max(tc.h-1, 1))
			}
		}
		dst := make([]byte, tc.size*tc.size*3)
		resizeShortCrop(dst, src, tc.w, tc.h, tc.size)
		for y := 0; y < tc.size; y++ {
			for x := 0; x < tc.size; x++ {
				p := (y*tc.size + x) * 3
				if dst[p+1] != 77 {
					t.Fatalf("%v: constant channel became %d at (%d,%d)", tc, dst[p+1], y, x)
				}
				if x > 0 && dst[p] < dst[p-3] {
					t.Fatalf("%v: horizontal ramp decreases at (%d,%d)", tc, y, x)
				}
				if y > 0 && dst[p+2] < dst[p+2-tc.size*3] {
					t.Fatalf("%v: vertical ramp decreases at (%d,%d)", tc, y, x)
				}
			}
		}
	}
}
