# The centre-box baseline on exactly GenPromp's test pipeline (64 px
# SynthBirds): the map is mmfg's centred pyramid
# (mmfg.models.classifiers.cam_localizer.centre_map), so the tau sweep
# reports the best centred box. Any GenPromp checkpoint works (the map
# ignores the model):
#   python tools/test.py \
#       projects/genpromp/configs/centre-box_tiny-sd_synthbirds.py <ckpt>
_base_ = ['./genpromp-stage2_tiny-sd_synthbirds.py']

model = dict(map_source='centre')
