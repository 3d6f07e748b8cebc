estimate qwen3-4b --gpu rtx-4060-ti-8gb --gpus 2 --device-map auto --json
