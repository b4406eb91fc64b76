# The L2-distance counterpart of snr-triplet_r18_synthbirds.py (same data,
# model, miner, margin and schedule; L2-normalised embeddings, as usual for
# an L2 triplet margin, instead of the zero-mean regulariser), evaluated
# with the L2 distance.
_base_ = ['./snr-triplet_r18_synthbirds.py']

distance = 'l2'
model = dict(
    head=dict(
        normalize=True, loss=dict(distance=distance), regularizer=None))
val_evaluator = dict(distance=distance)
test_evaluator = val_evaluator
