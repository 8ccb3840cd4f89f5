package tfgraph

// #cgo LDFLAGS: -ldl
// #define _GNU_SOURCE
// #include <dlfcn.h>
// #include <stdbool.h>
//
// // TensorFlow answers "are the oneDNN kernels on?" with the C++ function
// // tensorflow::IsMklEnabled() in libtensorflow_framework; the C API has no
// // counterpart. It takes no arguments and returns bool, so a C call through
// // its mangled name is sound on the x86-64 and AArch64 ABIs. -1: not found.
// static int simsiam_onednn_enabled(void) {
// 	void *f = dlsym(RTLD_DEFAULT, "_ZN10tensorflow12IsMklEnabledEv");
// 	if (f == NULL) return -1;
// 	return ((bool (*)(void))f)() ? 1 : 0;
// }
import "C"

// OneDNNEnv is the variable TensorFlow reads to decide whether its CPU
// kernels go through oneDNN ("1") or Eigen ("0"). Unset, TensorFlow turns
// oneDNN on only for x86 CPUs with AVX512-VNNI, AVX512-BF16, AVX-VNNI or AMX.
// libtensorflow reads it while it is being loaded, before a Go program's main
// runs, so it has to be in the environment the process starts with.
const OneDNNEnv = "TF_ENABLE_ONEDNN_OPTS"

// OneDNNEnabled reports whether TensorFlow runs its CPU kernels through
// oneDNN in this process; known is false when the library does not say.
func OneDNNEnabled() (enabled, known bool) {
	state := int(C.simsiam_onednn_enabled())
	return state == 1, state >= 0
}
