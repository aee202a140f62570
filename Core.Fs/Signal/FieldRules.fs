/// The moment rules of the field layers (Dsl/Layers/FieldLayers.fs) at initialisation, where their learnt
/// sampling is still a fixed one: deformable convolution reads its nominal taps (the offset convolution is
/// zero), DCLS reads its elements' initial grid positions through bilinear shares, and the selective-kernel
/// unit mixes normalised branches by a softmax over random logits.
module internal Receptor.Core.Signal.FieldRules

open System
open Receptor.Dsl
open Receptor.Core.Signal.Special
open Receptor.Core.Signal.Signal
open Receptor.Core.Torch

/// Deformable convolution with zero offsets is the plain convolution; v2 multiplies every sampled value by
/// its mask, σ(0) = ½ at init.
let deform (context: Context) (layer: CheckedLayer) (input: Signal) =
    Ok (LayerRules.convolution context layer input (if Layers.FieldLayers.modulated layer.Args then 0.5 else 1.0))

/// The bilinear corners (offset, share) of a position p along one axis; a zero share is dropped later.
let private corners (p: float) =
    let below = floor p
    [ int below, 1.0 - (p - below); int below + 1, p - below ]

/// DCLS at init: element (r, c) sits at the grid position (p_r, p_c) and spreads its weight over the four
/// corners around it, so it reads Σ shares × inputs; with independent weights per element the output
/// variance is σ²·Σ over elements of E[(Σ shares·x)²] (LayerRules.convolve).
let dcls (context: Context) (layer: CheckedLayer) (input: Signal) =
    let g = layer.Window
    let kh, kw = Layers.FieldLayers.elementGrid layer.Args
    let sizeH, sizeW = g.Kernel
    let rows, columns = FieldModules.spacingGrid kh sizeH, FieldModules.spacingGrid kw sizeW
    let stencil =
        Array.init (kh * kw) (fun e ->
            [| for dy, a in corners rows[e / kw] do
                   for dx, b in corners columns[e % kw] -> dy, dx, a * b |])
    let reads = Reads.ofStencil g stencil
    Ok (LayerRules.convolve context layer "" true input (Shape.channels layer.Facts.Output) g.Groups reads (Layers.Convolution.hasBias layer.Args))

/// E[a₁²] for a = softmax(l) over m iid N(0, v) logits, by a Gauss–Hermite product rule (about 2·10⁵
/// points); 1 for a single branch.
let softmaxSquare m variance =
    if m = 1 then 1.0
    elif variance <= 0.0 then 1.0 / float (m * m)
    else
        let rule = NormalRule.ofHermite (max 4 (min 48 (int (Math.Pow (2e5, 1.0 / float m)))))
        let n = rule.Points.Length
        let sd = sqrt variance
        let logits = Array.zeroCreate m
        let rec sum depth weight =
            if depth = m then
                let largest = Array.max logits
                let total = logits |> Array.sumBy (fun l -> exp (l - largest))
                let a = exp (logits[0] - largest) / total
                weight * a * a
            else
                let mutable s = 0.0
                for i in 0 .. n - 1 do
                    logits[depth] <- sd * rule.Points[i]
                    s <- s + sum (depth + 1) (weight * rule.Weights[i])
                s
        sum 0 1.0

/// The selective-kernel unit. Each branch is normalised then rectified, V = relu(N(0, 1)) per channel; the
/// attention aᵢ sums to 1 and is independent of the branch values it weighs (it comes from a global average
/// over every position and channel), and the branches are independent given the input, so the output has
/// mean E[V] and variance S·Var(V), S = Σᵢ E[aᵢ²], with no channel offset (Σ aᵢ = 1 leaves the channel
/// mean fixed). The logits l = W_select·z have variance σ²·d·E[z²], z = relu(batch-normalised): E[z²] = ½.
/// Branch and squeeze weights are planned by their fan-in energies; batch norm makes their scale irrelevant.
let sk (context: Context) (layer: CheckedLayer) (input: Signal) =
    let settings = Layers.FieldLayers.selectiveSettings layer.Args
    let out, branches, groups, width = Shape.channels layer.Facts.Output, settings.Branches, settings.Groups, settings.Width
    let _, oh, ow = match layer.Facts.Output with Spatial (c, h, w) -> c, h, w | Flat n -> n, 1, 1
    let h, w = match input.Shape with Spatial (_, h, w) -> h, w | Flat _ -> 1, 1
    for d in 1 .. branches do
        let window = { Kernel = 3, 3; Stride = settings.Stride; Dilation = d, d; Padding = (d, d, d, d); Groups = groups; Input = h, w; Output = oh, ow }
        LayerRules.convolve context layer (sprintf "branch%d" d) false input out groups (Reads.ofWindow window 1.0) false |> ignore
    let reluMean, reluSecond = 1.0 / sqrt (2.0 * Math.PI), 0.5
    let branchVariance = reluSecond - reluMean * reluMean
    // The pooled sum of M branches: mean M·E[V], fluctuation M·Var(V) over the positions it averages.
    let pooledSecond = (float branches * reluMean) ** 2.0 + float branches * branchVariance / float (oh * ow)
    let weighted part fanIn fanOut energy =
        Context.choose context
            { Path = layer.Path; Part = part; Kind = layer.Kind.Name; FanIn = fanIn; FanOut = fanOut
              Energy = energy; Gain = 1.0; HasBias = false; Kurtosis = 6.0 / float fanIn; Output = false }
    weighted "squeeze" out width (float out * pooledSecond) |> ignore
    let select = weighted "select" width (branches * out) (float width * reluSecond)
    let spread = float branches * softmaxSquare branches (select.Weight * float width * reluSecond)
    let stats = Stats.uniform (oh * ow) reluMean 0.0 (spread * branchVariance)
    Ok { Shape = layer.Facts.Output; Segments = [ Signal.gaussianSegment context.Ids out oh ow stats Independent Independent ] }
