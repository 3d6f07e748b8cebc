/* Architectures added beyond arch.c's first set (arch_more.c: decoders,
 * encoders, MoE; arch_linear.c: linear-attention and state-space models).
 * Each reader follows transformers 5.24's configuration_<arch>.py defaults
 * and modeling_<arch>.py modules. */
#ifndef GPUMEM_ARCH_MORE_INTERNAL_H
#define GPUMEM_ARCH_MORE_INTERNAL_H

#include "read_config_internal.h"

gpumem_status arch_read_qwen3_next(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_qwen3_5_text(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_qwen3_5_moe_text(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_mamba2(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_falcon_mamba(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_lfm2(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_minimax(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_falcon_h1(cfg_ctx *c, gpumem_model *m, arch_spec *s);
/* arch_more.c */
gpumem_status arch_read_opt(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_bloom(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_gptj(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_mpt(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_stablelm(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_nemotron(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_olmo3(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_seed_oss(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_hunyuan_dense(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_apertus(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_glm(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_arcee(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_helium(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_roberta(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_xlm_roberta(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_distilbert(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_modernbert(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_dbrx(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_hunyuan_moe(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_dots1(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_qwen3_vl_text(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_qwen3_vl_moe_text(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_gemma3n_text(cfg_ctx *c, gpumem_model *m, arch_spec *s);
/* arch_vision_qwen3.c: the Qwen3-VL vision tower and mergers; c->root is
 * the vision_config. */
gpumem_status vision_qwen3_tower(cfg_ctx *c, acc64 *s, bool deepstack);

#endif
