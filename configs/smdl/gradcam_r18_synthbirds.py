# The Grad-CAM baseline of configs/smdl/README.md: the same classifier and
# faithfulness measures as smdl_r18_synthbirds.py, attributions by Grad-CAM
# on backbone.layer4 (insertion / deletion in pixel order).
_base_ = ['./smdl_r18_synthbirds.py']

explain_cfg = dict(
    method='gradcam', layer='backbone.layer4', steps=32, order='pixel')
model = dict(explain_cfg=dict(_delete_=True, **explain_cfg))
