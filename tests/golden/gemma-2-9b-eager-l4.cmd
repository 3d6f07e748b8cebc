estimate gemma-2-9b-it --context 8192 --attn eager --gpu l4 --breakdown
