estimate llama-3.1-70b --gpu rtx-4090,rtx-3090,rtx-4060-ti-16gb --device-map sequential --breakdown
