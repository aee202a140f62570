/// TorchSharp modules of the dendritic ReLU units (Dsl/Layers/Dendritic.fs): parameters `weight` and
/// `bias` as the plain layer's, and `shift`, one per connection, flattened in (output, input) order and
/// zero at init (so the unit starts as the plain layer applied to relu(x)).
module Receptor.Core.Torch.DendriticModules

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch.FieldModules

type private Tensor = torch.Tensor
type private M = torch.nn.Module<Tensor, Tensor>

let private register (m: torch.nn.Module) (weightShape: int64[]) connections hasBias =
    let weight = parameterOf (torch.empty weightShape)
    let bias = if hasBias then Some (parameterOf (torch.empty weightShape[0])) else None
    initialiseConv weight (bias |> Option.map (fun b -> b :> Tensor))
    m.register_parameter ("weight", weight)
    m.register_parameter ("shift", parameterOf (torch.zeros (int64 connections)))
    bias |> Option.iter (fun b -> m.register_parameter ("bias", b))

/// y_o = Σᵢ w_oi·relu(x_i + s_oi) + b_o on flat inputs.
type DendriticLinear(name: string, inputs: int, outputs: int, hasBias: bool) as this =
    inherit M(name)
    do register this [| int64 outputs; int64 inputs |] (outputs * inputs) hasBias

    override this.forward input =
        let shift = (this.get_parameter "shift").view (int64 outputs, int64 inputs)
        let rectified = torch.nn.functional.relu (input.unsqueeze 1L + shift)
        let y = (rectified * this.get_parameter "weight").sum (-1L)
        if hasBias then y + this.get_parameter "bias" else y

/// A convolution over relu(x_i + s_oi): every (output, input-of-its-group) channel pair rectifies the
/// input map with its own shift, and output channel o convolves its own rectified maps (a convolution with
/// one group per output channel).
type DendriticConv2d
    (name: string, inChannels: int, outChannels: int, kernel: int * int, stride: int * int,
     padding: int * int * int * int, dilation: int * int, groups: int, hasBias: bool) as this =
    inherit M(name)
    let perGroup = inChannels / groups
    let top, left, bottom, right = padding
    do
        let kh, kw = kernel
        register this [| int64 outChannels; int64 perGroup; int64 kh; int64 kw |] (outChannels * perGroup) hasBias

    override this.forward input =
        // The network may hand over channels-last tensors; the per-connection view wants NCHW.
        let input = input.contiguous ()
        let n, h, w = input.shape[0], input.shape[2], input.shape[3]
        let g, og = int64 groups, int64 (outChannels / groups)
        let shift = (this.get_parameter "shift").view (1L, g, og, int64 perGroup, 1L, 1L)
        let rectified = torch.nn.functional.relu (input.view (n, g, 1L, int64 perGroup, h, w) + shift)
        let rectified = rectified.reshape (n, int64 (outChannels * perGroup), h, w)
        let padded = torch.nn.functional.pad (rectified, [| int64 left; int64 right; int64 top; int64 bottom |])
        let biasTensor = if hasBias then this.get_parameter "bias" :> Tensor else null
        let sh, sw = stride
        let dh, dw = dilation
        torch.nn.functional.conv2d (
            padded, this.get_parameter "weight", biasTensor, [| int64 sh; int64 sw |], [| 0L; 0L |],
            [| int64 dh; int64 dw |], int64 outChannels)

let dendconv (layer: CheckedLayer) : M =
    let g = layer.Window
    new DendriticConv2d (
        "dendconv", Shape.channels layer.Input, Shape.channels layer.Facts.Output, g.Kernel, g.Stride, g.Padding, g.Dilation,
        g.Groups, Layers.Convolution.hasBias layer.Args)

let dendense (layer: CheckedLayer) : M =
    new DendriticLinear ("dendense", Shape.channels layer.Input, Shape.channels layer.Facts.Output, Layers.Convolution.hasBias layer.Args)
