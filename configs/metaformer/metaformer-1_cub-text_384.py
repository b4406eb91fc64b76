# MetaFormer-1 on CUB at 384 px with text descriptions as meta: pre-computed
# word embeddings (e.g. BERT-base, 768-d), one .npy per image under
# data/CUB_200_2011/text_embeddings/<class>/<image>.npy (format in
# docs/data_fields.md, "Meta-information"), the first 32 rows as 32 meta
# tokens. Nothing is downloaded or run at training time.
_base_ = ['./metaformer-1_cub-attr_384.py']

text_meta = dict(
    type='TextEmbeddingMeta',
    embed_dir='data/CUB_200_2011/text_embeddings',
    img_dir='data/CUB_200_2011/images',
    num_tokens=32)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.rand_augment}},
    text_meta,
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=438, edge='short'),
    dict(type='CenterCrop', crop_size=384),
    text_meta,
    dict(type='PackFGInputs'),
]
_data = dict(with_attributes=False)
train_dataloader = dict(dataset=dict(**_data, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(**_data, pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(**_data, pipeline=test_pipeline))

model = dict(
    meta_keys=['text'],
    backbone=dict(meta_dims=dict(_delete_=True, text=768)))
