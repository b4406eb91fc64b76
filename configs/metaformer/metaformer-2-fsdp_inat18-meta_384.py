# MetaFormer-2 at 384 px on iNaturalist 2018 (the largest mmfg model) with
# FSDP through MMEngine's FlexibleRunner: parameters, gradients and AdamW
# states sharded over the GPUs (ZeRO-3 style), bf16 compute. Same recipe as
# metaformer-2_inat18-meta_384.py; see docs/multi_gpu.md.
#   bash tools/dist_train.sh \
#       configs/metaformer/metaformer-2-fsdp_inat18-meta_384.py 8
_base_ = ['./metaformer-2_inat18-meta_384.py']

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        # an FSDP unit per block of >= 5M parameters (the transformer and
        # late MBConv blocks); the rest stays in the root unit
        auto_wrap_policy=dict(
            type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
            min_num_params=int(5e6)),
        # keep per-parameter groups (no weight decay on norms / biases)
        use_orig_params=True,
        mixed_precision=dict(
            param_dtype='bfloat16', reduce_dtype='float32',
            buffer_dtype='float32')),
    # checkpoints as one full state dict: loadable without FSDP
    state_dict_cfg='full')
