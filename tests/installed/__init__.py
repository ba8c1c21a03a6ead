"""The rendered project as a whole, installed and run: its suite, lint and types, and the
service under real uvicorn (slow tier). A test of one option goes in tests/options/ instead."""
