// Package archtest holds no code, only a test: that docs/ARCHITECTURE.md's
// table of packages and their imports is the import graph the code has, that
// every import points to a lower layer, that the layering rules hold (tfgraph
// alone imports graft and cgo; serve needs none of model, augment, eval,
// configs, export; nothing imports cmd) and that the files and Go names the
// document mentions exist.
package archtest
