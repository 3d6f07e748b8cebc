estimate tests/fixtures/gguf/tiny-llama-q4k.gguf --gpu rtx-3090,rtx-4060-ti-16gb
