estimate qwen3-30b-a3b --json --gpus 2 --gpu h100-80gb
