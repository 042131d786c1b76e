// llama.cpp as the reference for swapmoe's GGUF goldens: one small program over libllama, four questions.
//   llama_reference logits   model.gguf id...         last-position logits of the ids, one JSON array
//   llama_reference greedy   model.gguf N id...       {"ids": N greedy next ids after the ids (EOS not special),
//                                                     "min_gap": the smallest top-1 minus top-2 logit of the steps}
//   llama_reference nll      model.gguf id...         {"tokens": n, "nll": sum over positions 1..n-1, "ppl": ...}
//                                                     (every position predicts the next id, one context, one batch)
//   llama_reference tokenize model.gguf texts.bin     ids of each text, JSON array of arrays; texts.bin holds each
//                                                     text as a 4-byte little-endian length and its UTF-8 bytes;
//                                                     specials parsed, BOS/EOS added as the file says (as
//                                                     llama-tokenize does by default); `tokenize-raw`: specials
//                                                     not parsed (llama-tokenize --no-parse-special)
// Tools/make_gguf_fixtures.py builds and runs it for Tests/Fixtures/gguf/llama-goldens.json and tokens-*.json.
// Build against the library Tools/build_llamacpp.sh builds (L = its llama.cpp source, B = its build/bin):
//   gcc -O1 -o llama_reference Tools/llama_reference.c -I$L/include -I$L/ggml/include -L$B -lllama -lggml -lggml-base -lm -Wl,-rpath,$B
// Single thread, f32 KV cache, no flash attention, so the only differences from swapmoe are llama.cpp's own
// arithmetic (its CPU matmuls convert activations to the weights' vec-dot type: BF16 for BF16 weights, Q8_0 for
// Q8_0 / Q4_0 / Q5_0, Q8_K for K-quants).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * data) { (void)level; (void)text; (void)data; }

static void fail(const char * what) { fprintf(stderr, "llama_reference: %s\n", what); exit(1); }

static struct llama_context * context(struct llama_model * model, int n) {
    struct llama_context_params cp = llama_context_default_params();
    int size = n < 128 ? 128 : n;
    cp.n_ctx = size; cp.n_batch = size; cp.n_ubatch = size; cp.n_threads = 1; cp.n_threads_batch = 1;
    cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) fail("cannot make a context");
    return ctx;
}

// Runs ids[0..n) from position `start`; logits for every position when `all`, else the last only.
static void decode(struct llama_context * ctx, const llama_token * ids, int n, int start, int all) {
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = ids[i]; b.pos[i] = start + i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0;
        b.logits[i] = all || i == n - 1;
    }
    b.n_tokens = n;
    if (llama_decode(ctx, b) != 0) fail("decode failed");
    llama_batch_free(b);
}

static int argmax(const float * v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[best]) best = i;
    return best;
}

static void print_ids(const llama_token * ids, int n) {
    printf("[");
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
    printf("]");
}

static char * read_file(const char * path, long * size) {
    FILE * f = fopen(path, "rb");
    if (!f) fail("cannot open the texts file");
    fseek(f, 0, SEEK_END); *size = ftell(f); fseek(f, 0, SEEK_SET);
    char * buf = malloc(*size + 1);
    if (fread(buf, 1, *size, f) != (size_t)*size) fail("cannot read the texts file");
    buf[*size] = 0;
    fclose(f);
    return buf;
}

int main(int argc, char ** argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s logits|greedy|nll|tokenize model.gguf ...\n", argv[0]); return 64; }
    const char * mode = argv[1];
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.vocab_only = strncmp(mode, "tokenize", 8) == 0;  // vocabulary-only files hold no weights
    struct llama_model * model = llama_model_load_from_file(argv[2], mp);
    if (!model) fail("cannot load the model");
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    int nv = llama_vocab_n_tokens(vocab);

    if (strncmp(mode, "tokenize", 8) == 0) {
        int parse = strcmp(mode, "tokenize-raw") != 0;
        long size;
        char * texts = read_file(argv[3], &size);
        llama_token * ids = malloc(sizeof(llama_token) * (size + 16));
        printf("[");
        for (long at = 0, k = 0; at + 4 <= size; k++) {
            const unsigned char * h = (const unsigned char *)texts + at;
            long len = h[0] | (h[1] << 8) | (h[2] << 16) | ((long)h[3] << 24);
            if (at + 4 + len > size) fail("texts file truncated");
            int n = llama_tokenize(vocab, texts + at + 4, (int)len, ids, (int)(size + 16), 1, parse);
            if (n < 0) fail("tokenize failed");
            printf("%s\n", k ? "," : "");
            print_ids(ids, n);
            at += 4 + len;
        }
        printf("]\n");
        return 0;
    }

    int greedy = strcmp(mode, "greedy") == 0;
    int first = greedy ? 4 : 3;
    if (argc <= first) fail("no ids");
    int steps = greedy ? atoi(argv[3]) : 0;
    int n = argc - first;
    llama_token * ids = malloc(sizeof(llama_token) * (n + steps));
    for (int i = 0; i < n; i++) ids[i] = atoi(argv[first + i]);
    struct llama_context * ctx = context(model, n + steps);

    if (strcmp(mode, "logits") == 0) {
        decode(ctx, ids, n, 0, 0);
        const float * logits = llama_get_logits_ith(ctx, -1);
        printf("[");
        for (int i = 0; i < nv; i++) printf("%s%.9g", i ? ", " : "", logits[i]);
        printf("]\n");
    } else if (greedy) {
        // Also the smallest gap between the best and second-best logit over the steps: how close a step came to a tie.
        double gap = INFINITY;
        decode(ctx, ids, n, 0, 0);
        for (int s = 0; s < steps; s++) {
            const float * l = llama_get_logits_ith(ctx, -1);
            int best = argmax(l, nv);
            for (int j = 0; j < nv; j++) if (j != best && l[best] - l[j] < gap) gap = l[best] - l[j];
            ids[n + s] = best;
            if (s + 1 < steps) decode(ctx, ids + n + s, 1, n + s, 0);
        }
        printf("{\"ids\": ");
        print_ids(ids + n, steps);
        printf(", \"min_gap\": %.9g}\n", gap);
    } else if (strcmp(mode, "nll") == 0) {
        decode(ctx, ids, n, 0, 1);
        double nll = 0;
        for (int i = 0; i + 1 < n; i++) {
            const float * l = llama_get_logits_ith(ctx, i);
            double mx = l[argmax(l, nv)], sum = 0;
            for (int j = 0; j < nv; j++) sum += exp((double)l[j] - mx);
            nll += mx + log(sum) - l[ids[i + 1]];
        }
        printf("{\"tokens\": %d, \"nll\": %.12g, \"ppl\": %.12g}\n", n, nll, exp(nll / (n - 1)));
    } else {
        fail("unknown mode (logits, greedy, nll, tokenize)");
    }
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
