estimate tests/fixtures/gguf/tiny-bert.gguf -c 512 -fa off --gpu rtx-4090 --breakdown
