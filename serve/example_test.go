package serve_test

import (
	"fmt"
	"log"

	"github.com/simsiam-go/simsiam/serve"
)

// Embed a batch of raw uint8 NHWC images with the encoder a training run
// exported. Resizing and normalisation happen inside the SavedModel. The
// Model is safe for concurrent use: load it once per process.
func Example() {
	m, err := serve.Load("runs/fashion_mnist_demo/saved_model")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	const n, h, w, c = 2, 28, 28, 1
	pixels := make([]byte, n*h*w*c) // two grey 28x28 images
	emb, err := m.Embed(pixels, n, h, w, c)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(emb), len(emb[0])) // 2 embeddings of the backbone's feature size

	// Files or a whole folder (PNG/JPEG) work too.
	paths, vecs, err := m.EmbedFolder("photos/")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(paths[0], len(vecs[0]))
}
