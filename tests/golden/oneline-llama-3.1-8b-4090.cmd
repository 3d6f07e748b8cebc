estimate llama-3.1-8b --gpu rtx-4090
