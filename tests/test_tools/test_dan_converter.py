"""tools/model_converters/dan_to_ferlab.py against a re-implementation of the public DAN module.

``PublicDAN`` below rebuilds the structure of yaoing/DAN's ``networks/dan.py``
with its exact module names (``features``, ``cat_head{i}.sa/ca``, ``fc``,
``bn``) and forward order, so its ``state_dict`` has the public key layout.
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from ferlab.registry import MODELS
from ferlab.utils import atomic_save, safe_torch_load
from tools.model_converters.dan_to_ferlab import convert_dan_state_dict, convert_key, main


class _PublicSA(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1x1 = nn.Sequential(nn.Conv2d(512, 256, 1), nn.BatchNorm2d(256))
        self.conv_3x3 = nn.Sequential(nn.Conv2d(256, 512, 3, padding=1), nn.BatchNorm2d(512))
        self.conv_1x3 = nn.Sequential(nn.Conv2d(256, 512, (1, 3), padding=(0, 1)), nn.BatchNorm2d(512))
        self.conv_3x1 = nn.Sequential(nn.Conv2d(256, 512, (3, 1), padding=(1, 0)), nn.BatchNorm2d(512))
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.conv1x1(x)
        y = self.relu(self.conv_3x3(y) + self.conv_1x3(y) + self.conv_3x1(y))
        return x * y.sum(dim=1, keepdim=True)


class _PublicCA(nn.Module):
    def __init__(self):
        super().__init__()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.attention = nn.Sequential(
            nn.Linear(512, 32), nn.BatchNorm1d(32), nn.ReLU(inplace=True), nn.Linear(32, 512), nn.Sigmoid()
        )

    def forward(self, sa):
        sa = self.gap(sa).view(sa.size(0), -1)
        return sa * self.attention(sa)


class _PublicHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.sa = _PublicSA()
        self.ca = _PublicCA()

    def forward(self, x):
        return self.ca(self.sa(x))


class PublicDAN(nn.Module):
    """Structure and key names of yaoing/DAN's ``DAN(num_class, num_head)`` (no weight loading)."""

    def __init__(self, num_class=7, num_head=4):
        super().__init__()
        resnet = torchvision.models.resnet18(weights=None)
        self.features = nn.Sequential(*list(resnet.children())[:-2])
        self.num_head = num_head
        for i in range(num_head):
            setattr(self, f'cat_head{i}', _PublicHead())
        self.sig = nn.Sigmoid()
        self.fc = nn.Linear(512, num_class)
        self.bn = nn.BatchNorm1d(num_class)

    def forward(self, x):
        x = self.features(x)
        heads = torch.stack([getattr(self, f'cat_head{i}')(x) for i in range(self.num_head)]).permute(
            [1, 0, 2]
        )
        if heads.size(1) > 1:
            heads = F.log_softmax(heads, dim=1)
        return self.bn(self.fc(heads.sum(dim=1))), x, heads


def _randomise(module: nn.Module, seed: int) -> None:
    """Random weights and BN running statistics everywhere (so a wrong mapping cannot pass)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.dtype.is_floating_point:
                if name.endswith('running_var'):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                elif name.endswith(('weight', 'bias', 'running_mean')) and t.dim() == 1:
                    t.copy_(
                        torch.randn(t.shape, generator=g) * 0.1 + (1.0 if name.endswith('weight') else 0.0)
                    )
                else:
                    t.copy_(torch.randn(t.shape, generator=g) * (1.0 / max(t[0].numel(), 1)) ** 0.5)


def _ferlab_dan(num_classes: int, num_heads: int):
    cfg = Config.fromfile('configs/dan/dan_r18_rafdb.py')
    cfg.model.backbone.init_cfg = None
    cfg.model.neck.num_heads = num_heads
    cfg.model.head.num_classes = num_classes
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('num_class,num_head', [(7, 4), (8, 2)])
def test_converted_checkpoint_gives_public_logits(tmp_path, num_class, num_head):
    torch.manual_seed(0)
    public = PublicDAN(num_class, num_head)
    _randomise(public, seed=num_head)
    public.eval()
    opt = torch.optim.SGD(public.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    src, dst = tmp_path / 'public.pth', tmp_path / 'ferlab.pth'
    atomic_save(
        {'iter': 7, 'model_state_dict': public.state_dict(), 'optimizer_state_dict': opt.state_dict()}, src
    )
    meta = main([str(src), str(dst)])
    assert meta == dict(num_heads=num_head, num_classes=num_class, converted_from='yaoing/DAN')

    model = _ferlab_dan(num_class, num_head)
    load_checkpoint(model, str(dst), map_location='cpu', strict=False)
    missing = set(model.state_dict()) - set(safe_torch_load(dst)['state_dict'])
    assert missing == {'head.affinity_loss.centers'}  # centers live in the public criterion, not the model
    model.eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        ref_logits, ref_feat, ref_heads = public(x)
        feats = model.extract_feat(x)
        logits = model.head(feats)
    assert torch.isfinite(ref_logits).all() and ref_logits.std() > 1e-3
    torch.testing.assert_close(feats[0], ref_feat, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.head.fuse(feats[1]), ref_heads, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)


def test_converter_round_trip_keys():
    public = PublicDAN(7, 4).state_dict()
    converted, meta = convert_dan_state_dict(public)
    model_keys = set(_ferlab_dan(7, 4).state_dict())
    assert set(converted) == model_keys - {'head.affinity_loss.centers'}
    assert len(converted) == len(public)
    for k, v in public.items():
        assert converted[convert_key(k)] is v
    assert convert_key('features.7.1.bn2.running_var') == 'backbone.layer4.1.bn2.running_var'
    assert convert_key('cat_head3.ca.attention.3.weight') == 'neck.heads.3.ca.attention.3.weight'
    assert convert_key('bn.num_batches_tracked') == 'head.bn.num_batches_tracked'
    # DataParallel prefixes are stripped, foreign keys are refused
    from tools.model_converters.dan_to_ferlab import extract_state_dict

    assert set(extract_state_dict({f'module.{k}': v for k, v in public.items()})) == set(public)
    with pytest.raises(KeyError, match='classifier.weight'):
        convert_dan_state_dict({'classifier.weight': torch.zeros(1)})
    with pytest.raises(KeyError, match='features.2'):
        convert_key('features.2.weight')


def test_msceleb_resnet18_loads_through_init_cfg(tmp_path):
    """A torchvision-layout {'state_dict': ...} (incl. fc) initialises ferlab's ResNet-18 via init_cfg."""
    tv = torchvision.models.resnet18(weights=None)
    _randomise(tv, seed=3)
    tv.eval()
    path = tmp_path / 'resnet18_msceleb.pth'
    atomic_save({'state_dict': tv.state_dict()}, path)
    backbone = MODELS.build(
        dict(type='ResNet', depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    )
    backbone.init_weights()
    backbone.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = nn.Sequential(*list(tv.children())[:-2])(x)
        torch.testing.assert_close(backbone(x)[0], ref, atol=1e-5, rtol=1e-5)
    missing = MODELS.build(
        dict(type='ResNet', depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'nope.pth')))
    )
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        missing.init_weights()
