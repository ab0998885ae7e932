// Names of files in the data folder that the CLI reads without loading the daemon.
export const API_TOKEN_FILE = 'api-token'
/** Written by a running daemon: its pid and API port, for the CLI to find it. */
export const RUNTIME_FILE = 'daemon.json'
