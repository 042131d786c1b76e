// Prints llama.cpp's last-position logits for given token ids on a GGUF, as one JSON array:
//   llama_logits model.gguf 1 699 355 ...
// It made Tests/Fixtures/gguf/llama-logits.json (prompt ids from Tests/Fixtures/models/<family>/golden.json).
// Build against the library Tools/build_llamacpp.sh builds (L = its llama.cpp source, B = its build/bin):
//   gcc -O1 -o llama_logits Tools/llama_logits.c -I$L/include -I$L/ggml/include -L$B -lllama -lggml -lggml-base -Wl,-rpath,$B
// Single thread, f32 KV cache, no flash attention, so the only differences from swapmoe are llama.cpp's own
// arithmetic (its CPU matmuls convert activations to the weights' vec-dot type: BF16 for BF16 weights, Q8_0 for
// Q8_0 / Q4_0, Q8_K for K-quants).
#include <stdio.h>
#include <stdlib.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * data) { (void)level; (void)text; (void)data; }

int main(int argc, char ** argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s model.gguf id...\n", argv[0]); return 64; }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    int n = argc - 2;
    llama_token * ids = malloc(sizeof(llama_token) * n);
    for (int i = 0; i < n; i++) ids[i] = atoi(argv[i + 2]);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 128; cp.n_batch = 128; cp.n_ubatch = 128; cp.n_threads = 1; cp.n_threads_batch = 1;
    cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "cannot make a context\n"); return 1; }
    if (llama_decode(ctx, llama_batch_get_one(ids, n)) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
    const float * logits = llama_get_logits_ith(ctx, -1);
    int nv = llama_vocab_n_tokens(llama_model_get_vocab(model));
    printf("[");
    for (int i = 0; i < nv; i++) printf("%s%.9g", i ? ", " : "", logits[i]);
    printf("]\n");
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
