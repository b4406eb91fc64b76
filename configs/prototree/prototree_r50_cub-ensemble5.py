# An ensemble of 5 ProtoTrees on CUB-200-2011: one head with `num_trees=5`
# (each tree its own add-on, 511 prototypes and 512 leaves), trained by the
# mean of the trees' NLLs; predictions average the five distributions.
# The trees share one ResNet-50 here; the paper trains five independent
# ProtoTrees (five backbones) and reports 87.2 on CUB (82.2 for one tree).
_base_ = ['./prototree_r50_cub.py']

model = dict(head=dict(num_trees=5))
