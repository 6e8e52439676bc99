#ifndef AFM_TOOLS_CLI_H
#define AFM_TOOLS_CLI_H
typedef struct afm_command { const char *name; const char *help; int (*fn)(int argc, char **argv); } afm_command;
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_trace(int argc, char **argv);
#endif
