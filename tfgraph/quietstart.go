package tfgraph

// #include <stdlib.h>
// #include <string.h>
// #include <unistd.h>
//
// // libtensorflow writes "oneDNN custom operations are on ..." from its
// // static initialisers, while the dynamic loader maps it and before any Go
// // code runs, so neither main nor a log filter can hide it. A function in
// // the executable's .preinit_array runs before the initialisers of every
// // shared library (libc's too, so setenv would be undone by libc's own
// // start): when the user has not chosen a log level it starts the program
// // again at once, with the default level added to the environment. Nothing
// // has run yet, so this costs one exec; a user's value (0 among them) is
// // kept. If the exec fails the program goes on with TensorFlow's default.
// static void simsiam_quiet_start(int argc, char **argv, char **envp) {
// 	static const char name[] = "TF_CPP_MIN_LOG_LEVEL=";
// 	size_t n = 0;
// 	(void)argc;
// 	if (envp == NULL || argv == NULL) return;
// 	for (; envp[n] != NULL; n++) {
// 		if (strncmp(envp[n], name, sizeof name - 1) == 0) return;
// 	}
// 	char *env[n + 2];
// 	memcpy(env, envp, n * sizeof env[0]);
// 	env[n] = "TF_CPP_MIN_LOG_LEVEL=2";
// 	env[n + 1] = NULL;
// 	execve("/proc/self/exe", argv, env);
// }
// __attribute__((section(".preinit_array"), used))
// static void (*simsiam_quiet_start_entry)(int, char **, char **) = simsiam_quiet_start;
//
// static const char *simsiam_start_log_level(void) { return getenv("TF_CPP_MIN_LOG_LEVEL"); }
import "C"

// LogLevelEnv is the variable that sets TensorFlow's minimum log level
// (0 info, 1 warnings, 2 errors, 3 fatal only).
const LogLevelEnv = "TF_CPP_MIN_LOG_LEVEL"

// DefaultLogLevel is the level a program linking this package gives
// TensorFlow when LogLevelEnv is unset at start: errors only. The program
// starts itself again with it before libtensorflow is initialised, so it is
// in the environment the Go program (and any process it starts) sees.
const DefaultLogLevel = "2"

// startLogLevel returns LogLevelEnv as the C library sees it: what the
// process was started with, or DefaultLogLevel.
func startLogLevel() string {
	p := C.simsiam_start_log_level()
	if p == nil {
		return ""
	}
	return C.GoString(p)
}
