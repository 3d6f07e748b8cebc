estimate deepseek-v3 --gpus 8 --gpu h200 --breakdown
