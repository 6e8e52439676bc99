/* afm — command-line tool. One file per subcommand (tools/cmd_*.c); this file dispatches. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static const afm_command g_commands[] = {
    {"info", "print a model's architecture, hyperparameters, tokenizer and tensors", cmd_info},
    {"tokenize", "encode stdin with a model's or a file's tokenizer; print ids or pieces", cmd_tokenize},
    {"detokenize", "decode token ids read from stdin to text", cmd_detokenize},
    {"eval", "run benchmarks (MMLU, GSM8K, IFEval, ROUGE, ...) or grade given responses", cmd_eval},
    {"generate", "generate text from a prompt", cmd_generate},
    {"bench", "measure prompt-processing and generation speed (like llama-bench)", cmd_bench},
    {"convert", "convert a llama2.c, safetensors or GGUF model to GGUF (optionally re-typed)", cmd_convert},
    {"init", "write a randomly initialized model of a given shape", cmd_init},
    {"chat", "interactive chat through the model's chat template, streaming", cmd_chat},
    {"plot", "draw the loss curves of a training run as a PNG", cmd_plot},
    {"data", "prepare token shards for training: afm data prepare --tokenizer TOK --out DIR FILES...", cmd_data},
    {"train", "pre-train an AFM model from a recipe (checkpoints, resume, --dry-run planning)", cmd_train},
    {"tokenizer", "train a BPE tokenizer (byte-level or SentencePiece style) on text files", cmd_tokenizer},
    {"template", "render a conversation with a model's chat template (or a template file, or afm's)", cmd_template},
    {"trace", "write the output of every op of one forward pass (debugging; compare with llama.cpp)", cmd_trace},
};

static void usage(FILE *f) {
    fprintf(f, "usage: afm COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        fprintf(f, "  %-12s %s\n", g_commands[i].name, g_commands[i].help);
    fprintf(f, "\nRun 'afm COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        if (!strcmp(argv[1], g_commands[i].name)) return g_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
