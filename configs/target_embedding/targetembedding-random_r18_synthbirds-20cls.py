# targetembedding_r18_synthbirds-20cls.py with random-projection codes of
# the one-hot space (seeded; no trained model needed) instead of the
# eigen-representation.
_base_ = ['./targetembedding_r18_synthbirds-20cls.py']

model = dict(head=dict(codes=dict(_delete_=True, type='random', seed=0)))
