package data

import "math"

// resizeShortCrop resamples an RGB image src (w x h, 3 bytes per pixel,
// row-major) so that its shorter side becomes size, using a bilinear
// (triangle) filter, and writes the central size x size crop to dst in HWC
// order. When shrinking, the triangle is widened by the scale factor so that
// every source pixel contributes (as PIL's BILINEAR does); when enlarging it
// is plain bilinear interpolation between the two nearest pixel centres,
// with edges clamped.
func resizeShortCrop(dst, src []byte, w, h, size int) {
	rw, rh := size, size
	if w < h {
		rh = max(size, int(math.Round(float64(h)*float64(size)/float64(w))))
	} else if h < w {
		rw = max(size, int(math.Round(float64(w)*float64(size)/float64(h))))
	}
	xs := triangleTaps(w, rw, (rw-size)/2, size)
	ys := triangleTaps(h, rh, (rh-size)/2, size)

	// Horizontal pass over only the source rows the vertical pass reads.
	y0, y1 := ys.first[0], ys.first[size-1]+len(ys.weights[size-1])
	tmp := make([]float32, (y1-y0)*size*3)
	for y := y0; y < y1; y++ {
		row := src[y*w*3 : (y+1)*w*3]
		out := tmp[(y-y0)*size*3 : (y-y0+1)*size*3]
		for ox := 0; ox < size; ox++ {
			var r, g, b float32
			p := xs.first[ox] * 3
			for _, wt := range xs.weights[ox] {
				r += wt * float32(row[p])
				g += wt * float32(row[p+1])
				b += wt * float32(row[p+2])
				p += 3
			}
			out[3*ox], out[3*ox+1], out[3*ox+2] = r, g, b
		}
	}
	// Vertical pass.
	stride := size * 3
	for oy := 0; oy < size; oy++ {
		d := dst[oy*stride : (oy+1)*stride]
		base := (ys.first[oy] - y0) * stride
		for i := 0; i < stride; i++ {
			var v float32
			p := base + i
			for _, wt := range ys.weights[oy] {
				v += wt * tmp[p]
				p += stride
			}
			d[i] = clampByte(v)
		}
	}
}

// taps lists, for each output sample, the first source index it reads and
// the normalised weights of consecutive source samples from there on.
type taps struct {
	first   []int
	weights [][]float32
}

// triangleTaps computes triangle-filter weights for count output samples
// starting at output index offset, when resampling srcLen samples to
// dstLen. Sample centres sit at index+0.5.
func triangleTaps(srcLen, dstLen, offset, count int) taps {
	t := taps{first: make([]int, count), weights: make([][]float32, count)}
	scale := float64(srcLen) / float64(dstLen)
	support := max(scale, 1)
	for i := 0; i < count; i++ {
		center := (float64(i+offset) + 0.5) * scale
		lo := max(int(math.Floor(center-support)), 0)
		hi := min(int(math.Ceil(center+support)), srcLen)
		var ws []float64
		first := -1
		sum := 0.0
		for j := lo; j < hi; j++ {
			wt := 1 - math.Abs((float64(j)+0.5-center)/support)
			if wt <= 0 {
				if first >= 0 {
					break
				}
				continue
			}
			if first < 0 {
				first = j
			}
			ws = append(ws, wt)
			sum += wt
		}
		if first < 0 { // cannot happen for valid sizes; fall back to nearest
			first = min(max(int(center), 0), srcLen-1)
			ws, sum = []float64{1}, 1
		}
		w32 := make([]float32, len(ws))
		for k, wt := range ws {
			w32[k] = float32(wt / sum)
		}
		t.first[i], t.weights[i] = first, w32
	}
	return t
}

func clampByte(v float32) byte {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return byte(v + 0.5)
}
