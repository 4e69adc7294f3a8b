"""The command line (`headwater ...`). An entry point: may import every layer below.
Heavy modules are imported inside commands so `headwater --help` starts fast."""
