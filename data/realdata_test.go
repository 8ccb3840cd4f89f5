package data

import (
	"os"
	"path/filepath"
	"testing"
)

// fashionMNISTDir is where the machine image installs Fashion-MNIST.
const fashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// TestFashionMNISTReal reads the installed Fashion-MNIST. It fails when the
// files are missing, unless SIMSIAM_NO_REAL_DATA=1 is set.
func TestFashionMNISTReal(t *testing.T) {
	if os.Getenv("SIMSIAM_NO_REAL_DATA") == "1" {
		t.Skip("SIMSIAM_NO_REAL_DATA=1: skipping the test on the installed Fashion-MNIST")
	}
	for _, tc := range []struct {
		train    bool
		n, per   int
		imgsFile string
	}{
		{true, 60000, 6000, "train-images-idx3-ubyte.gz"},
		{false, 10000, 1000, "t10k-images-idx3-ubyte.gz"},
	} {
		if _, err := os.Stat(filepath.Join(fashionMNISTDir, tc.imgsFile)); err != nil {
			t.Fatalf("Fashion-MNIST is not installed (set SIMSIAM_NO_REAL_DATA=1 to skip): %v", err)
		}
		s, err := ReadIDXDir(fashionMNISTDir, tc.train)
		if err != nil {
			t.Fatal(err)
		}
		if s.N != tc.n || s.H != 28 || s.W != 28 || s.C != 1 || s.NumClasses != 10 {
			t.Fatalf("train=%v: got %v with %d classes, want %d images 28x28x1 with 10 classes", tc.train, s, s.NumClasses, tc.n)
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		var hist [10]int
		for _, l := range s.Labels {
			hist[l]++
		}
		for c, n := range hist {
			if n != tc.per {
				t.Errorf("train=%v: class %d has %d images, want %d (histogram %v)", tc.train, c, n, tc.per, hist)
			}
		}
		// The published mean pixel of Fashion-MNIST is about 0.286*255 = 73;
		// a wrong header length or byte order would move it.
		sum := 0
		for _, v := range s.Pix {
			sum += int(v)
		}
		if mean := float64(sum) / float64(len(s.Pix)); mean < 65 || mean > 80 {
			t.Errorf("train=%v: mean pixel %.2f, want about 73", tc.train, mean)
		}
		// Fashion-MNIST images have a black border: the corner pixels of
		// the first image are 0.
		im := imageAt(t, s, 0)
		if im[0] != 0 || im[27] != 0 || im[27*28] != 0 || im[28*28-1] != 0 {
			t.Errorf("train=%v: corners of image 0 are %d %d %d %d, want 0", tc.train, im[0], im[27], im[27*28], im[28*28-1])
		}
		rgb := s.Subset(3).ToRGB()
		if rgb.C != 3 || rgb.N != 3 || rgb.Pix[3*400] != s.Pix[400] {
			t.Errorf("ToRGB of a Fashion-MNIST subset is wrong: %v", rgb)
		}
	}
}
