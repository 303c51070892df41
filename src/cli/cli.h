/*
 * cli.h — the command-line subcommands. Each takes the arguments after its
 * name and returns the process exit status: 0 success, 1 a runtime failure,
 * 2 bad usage or invalid input. Output goes to stdout, errors to stderr.
 */
#ifndef CF_CLI_CLI_H
#define CF_CLI_CLI_H

/* cronflow cron next|validate|describe ... */
int cli_cron(int argc, char **argv);

/* cronflow serve [--listen HOST:PORT] [--db PATH] */
int cli_serve(int argc, char **argv);

/* cronflow tz list|show ... */
int cli_tz(int argc, char **argv);

#endif
