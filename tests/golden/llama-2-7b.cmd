estimate llama-2-7b --breakdown
