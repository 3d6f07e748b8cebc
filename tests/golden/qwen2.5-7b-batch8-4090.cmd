estimate qwen2.5-7b --dtype bf16 --batch 8 --context 4096 --gpu rtx-4090 --breakdown
