"""Agent runtimes: the request/result contract, prompt rendering, output parsing, plug-ins."""
