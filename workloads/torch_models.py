"""The SAT evaluation models in plain torch (torchvision does not import beside the CPU torch
these machines have), and layer extraction from a forward pass. Needs torch: ``pip install
'sparseloom[torch]'``; simulating never does.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .trace import Layer


class Bottleneck(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Basic(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    """torchvision's ResNet layout (v1.5: stride on the 3x3), or the CIFAR stem."""

    def __init__(self, block, blocks: list[int], classes: int, cifar_stem: bool = False):
        super().__init__()
        expansion = 4 if block is Bottleneck else 1
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False) if cifar_stem else nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.pool = nn.Identity() if cifar_stem else nn.MaxPool2d(3, 2, 1)
        inplanes, stages = 64, []
        for i, (planes, count) in enumerate(zip([64, 128, 256, 512], blocks)):
            layers = []
            for b in range(count):
                layers.append(block(inplanes, planes, (1 if i == 0 else 2) if b == 0 else 1))
                inplanes = planes * expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(512 * expansion, classes)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ResNet9(nn.Module):
    """The DAWNBench CIFAR-10 ResNet-9; module names follow ``models.resnet9``."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.prep = _conv_bn(3, 64)
        self.layer1 = nn.ModuleDict({"conv": _conv_bn(64, 128), "res1": _conv_bn(128, 128), "res2": _conv_bn(128, 128)})
        self.layer2 = nn.ModuleDict({"conv": _conv_bn(128, 256)})
        self.layer3 = nn.ModuleDict({"conv": _conv_bn(256, 512), "res1": _conv_bn(512, 512), "res2": _conv_bn(512, 512)})
        self.fc = nn.Linear(512, classes, bias=False)

    def forward(self, x):
        x = self.prep(x)
        x = F.max_pool2d(self.layer1["conv"](x), 2)
        x = x + self.layer1["res2"](self.layer1["res1"](x))
        x = F.max_pool2d(self.layer2["conv"](x), 2)
        x = F.max_pool2d(self.layer3["conv"](x), 2)
        x = x + self.layer3["res2"](self.layer3["res1"](x))
        return self.fc(torch.flatten(F.adaptive_max_pool2d(x, 1), 1))


class VGG19(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        stages, channels = [], 3
        for width, count in [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]:
            convs = []
            for _ in range(count):
                convs.append(_conv_bn(channels, width))
                channels = width
            stages.append(nn.Sequential(*convs))
        self.features = nn.ModuleList(stages)
        self.classifier = nn.Linear(512, classes)

    def forward(self, x):
        for stage in self.features:
            x = F.max_pool2d(stage(x), 2)
        return self.classifier(torch.flatten(x, 1))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attn_qk = _MatMul()
        self.attn_av = _MatMul()

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = self.attn_qk(q, k.transpose(-2, -1)).mul(q.shape[-1] ** -0.5).softmax(-1)
        return self.proj(self.attn_av(attn, v).transpose(1, 2).reshape(b, t, d))


class _MatMul(nn.Module):
    """An activation-activation product, as a module so that extraction sees it."""

    def forward(self, a, b):
        return a @ b


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class DeiTSmall(nn.Module):
    def __init__(self, classes: int = 1000, depth: int = 12, dim: int = 384, heads: int = 6):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 16, 16)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, 197, dim))
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


TORCH_MODELS = {
    "resnet50": lambda: ResNet(Bottleneck, [3, 4, 6, 3], 1000),
    "resnet18": lambda: ResNet(Basic, [2, 2, 2, 2], 1000),
    "resnet18_cifar100": lambda: ResNet(Basic, [2, 2, 2, 2], 100, cifar_stem=True),
    "resnet18_tinyimagenet": lambda: ResNet(Basic, [2, 2, 2, 2], 200, cifar_stem=True),
    "resnet9": ResNet9,
    "vgg19": VGG19,
    "deit_small": DeiTSmall,
}


def extract_layers(model: nn.Module, input_shape: list[int]) -> list[Layer]:
    """Conv, linear and activation-activation matmul layers, in execution order, from one forward
    pass of a single sample (module names as layer names; the first layer gets no input gradient).
    ``torch_ops.extract_network`` also counts the operators between them."""
    layers: list[Layer] = []
    with recording_layers(model, layers.append), torch.no_grad():
        model.eval()(torch.zeros(1, *input_shape))
    return layers


@contextmanager
def recording_layers(model: nn.Module, record: Callable[[Layer], object]):
    """Forward hooks that pass ``record`` each conv, linear and ``_MatMul`` layer as it runs."""
    names = {module: name for name, module in model.named_modules()}

    def hook(module, inputs, output):
        name = names[module]
        x = inputs[0]
        if isinstance(module, nn.Conv2d):
            record(Layer(_name(name), "conv", module.in_channels, module.out_channels, *module.kernel_size,
                         module.stride[0], module.padding[0], x.shape[2], x.shape[3], module.groups))
        elif isinstance(module, nn.Linear):
            tokens = x.numel() // x.shape[0] // module.in_features
            record(Layer(_name(name), "linear", module.in_features, module.out_features, H=tokens))
        else:  # _MatMul: [b, heads, rows, reduce] @ [b, heads, reduce, cols]
            a, b = inputs
            heads = a.shape[1]
            record(Layer(_name(name), "matmul", a.shape[-1] * heads, b.shape[-1] * heads, H=a.shape[-2], groups=heads))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear, _MatMul))]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _name(module_name: str) -> str:
    """Module path to the layer tables' names: a conv-bn(-relu) Sequential's conv takes the
    Sequential's name, VGG stages count from 1, the attention module's layers sit in the block."""
    parts = module_name.split(".")
    if parts[0] == "features":                                          # features.<stage>.<i>.0
        return f"features.{int(parts[1]) + 1}.{parts[2]}"
    if parts[-1] == "0":
        parts = parts[:-1]
    return ".".join(p for p in parts if p != "attn")
