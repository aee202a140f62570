/// Initialisers: values of one type, applied to a compiled network. Each analytic method is a choice of
/// weight variance per weighted layer, made inside the moment propagation (AutoInit sees what each layer
/// receives; He, Glorot and PyTorch's default only count fans); LSUV measures on a batch instead.
module Receptor.Core.Signal.Initialisers

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch
open Receptor.Core.Signal.Propagation

/// How weights are drawn, at a given variance and zero mean.
type WeightLaw =
    | Normal
    /// Normal truncated at ±2 standard deviations of the underlying normal, rescaled to the variance.
    | TruncatedNormal
    | Uniform
    /// A (semi-)orthogonal matrix of shape (out, fan-in), scaled to the variance.
    | Orthogonal
    | Weibull

type FanMode =
    | FanIn
    | FanOut

type Method =
    /// Every weighted layer's output variance set to 1 by moment propagation under the given rules.
    | AutoInit of rules: Rules * law: WeightLaw
    /// He et al. (2015): Var = 2 / ((1 + α²)·fan·gain), α the negative slope of the ReLU-family activation
    /// that follows the layer (0 when none does), gain what the layer's sampling does to a white input's
    /// variance (WeightedLayer.Gain: ¼ for modulated deformable taps, the bilinear spreading of DCLS).
    | He of mode: FanMode * law: WeightLaw
    /// Glorot & Bengio (2010): Var = 2 / (fan-in + fan-out).
    | Glorot of law: WeightLaw
    /// PyTorch's default: weights and biases uniform in ±1/√fan-in.
    | TorchDefault
    /// Mishkin & Matas (2016): orthogonal, then each layer rescaled on one batch until |std − 1| < 0.1
    /// (at most 10 tries).
    | Lsuv
    /// Fixup (Zhang, Dauphin & Ma 2019): He, then residual bodies scaled and their last layers and the
    /// classifier zeroed (Residuals.fixup). Fixup's scalar biases and multipliers start at 0 and 1, so the
    /// network computes the same at initialisation without them.
    | Fixup of law: WeightLaw
    /// SkipInit (De & Smith 2020): He, and every residual computes x + α·f(x) with a learnable α that starts
    /// at 0 (Network.ResidualGain), so each block starts as its shortcut.
    | SkipInit of law: WeightLaw
    /// Zhu et al. (2021): the basis method's draw, then one scale per parameter tensor learnt on data
    /// (see GradInit).
    | GradInit of basis: Method * settings: Receptor.Core.Signal.GradInit.Settings

/// The output variance AutoInit aims every weighted layer at.
let target = 1.0

/// The standard deviation of N(0, 1) truncated to [−2, 2].
let private truncatedStd = 0.87962566103423978

/// The parameter-name prefix of a layer (or of one part of it), as the compiler registers it.
let parameterPrefix (layer: WeightedLayer) =
    let path = if layer.Path = "" then layer.Kind else layer.Path.Replace('/', '.')
    if layer.Part = "" then path else path + "." + layer.Part

/// For each weighted layer's path, the negative slope of the ReLU-family activation that comes next in
/// evaluation order before any other weighted layer.
let private slopes (tree: Checked) =
    let layers = Checked.layers tree |> Array.ofSeq
    layers
    |> Array.mapi (fun i layer ->
        let next =
            layers[i + 1 ..]
            |> Array.tryFind (fun l -> Receptor.Core.Kinds.Registry.isWeighted l.Kind.Name || (Receptor.Core.Kinds.Registry.activation l).IsSome)
        let alpha =
            next
            |> Option.bind Receptor.Core.Kinds.Registry.activation
            |> Option.bind (fun a -> a.NegativeSlope)
            |> Option.defaultValue 0.0
        layer.Path, alpha)
    |> Map.ofArray

/// AutoInit aims a ReLU-gated readout at this output variance rather than 1 (see gatedReadoutOf).
let readoutTarget = 0.01

/// ... and starts its bias this far up, ten standard deviations of its output, so that the ReLU starts in its
/// linear part with the logits near each other.
let readoutShift = 1.0

/// The network's ReLU-gated readout: the last weighted layer in evaluation order, when nothing after it is
/// weighted or merges paths and a ReLU (flat below 0) comes after it before the output, as All-CNN-C's class
/// maps have. At zero mean half of every class map is silent, and a few steps at learning rate 0.1 silenced
/// the rest for good (docs/training.md, "Where the weights start"); a readout without such a ReLU keeps
/// AutoInit's unit target.
let private gatedReadoutOf (tree: Checked) =
    let rec events node =
        match node with
        | CheckedOp layer -> [ Choice1Of2 layer ]
        | CheckedSeq nodes -> nodes |> List.collect events
        | CheckedBranches merge -> (merge.Branches |> List.collect events) @ [ Choice2Of2 merge ]
    let all = events tree |> List.rev
    let isWeighted (layer: CheckedLayer) = Receptor.Core.Kinds.Registry.isWeighted layer.Kind.Name
    let rec find after rest =
        match rest with
        | [] | Choice2Of2 _ :: _ -> None
        | Choice1Of2 layer :: _ when isWeighted layer ->
            let gated =
                after
                |> List.tryPick (fun (l: CheckedLayer) -> Receptor.Core.Kinds.Registry.activation l)
                |> Option.exists (fun a -> a.NegativeSlope = Some 0.0)
            if gated then Some layer.Path else None
        | Choice1Of2 layer :: earlier -> find (layer :: after) earlier
    find [] all

/// The weight variance a fan-counting method gives a layer.
let rec private fixedChoice (method: Method) (alphas: Map<string, float>) (gatedReadout: string option) (layer: WeightedLayer) =
    match method with
    | He (mode, _) ->
        let alpha = alphas.TryFind layer.Path |> Option.defaultValue 0.0
        let fan = match mode with FanIn -> layer.FanIn | FanOut -> layer.FanOut
        WeightVariance.centred (2.0 / ((1.0 + alpha * alpha) * float fan * layer.Gain)) 0.0
    | Glorot _ -> WeightVariance.centred (2.0 / float (layer.FanIn + layer.FanOut)) 0.0
    | TorchDefault -> WeightVariance.centred (1.0 / (3.0 * float layer.FanIn)) (1.0 / (3.0 * float layer.FanIn))
    | AutoInit _ ->
        match gatedReadout with
        | Some path when path = layer.Path && layer.HasBias && layer.Output ->
            { Weight = readoutTarget / layer.Energy; Bias = 0.0; BiasMean = readoutShift; Target = readoutTarget }
        | _ -> WeightVariance.centred (target / layer.Energy) 0.0
    // LSUV starts orthogonal, scaled to preserve the second moment of a unit input; `lsuv` rescales it.
    | Lsuv -> WeightVariance.centred (1.0 / float layer.FanIn) 0.0
    | Fixup law | SkipInit law -> fixedChoice (He (FanIn, law)) alphas gatedReadout layer
    | GradInit (basis, _) -> fixedChoice basis alphas gatedReadout layer

let rec private rulesOf method =
    match method with
    | AutoInit (rules, _) -> rules
    | GradInit (basis, _) -> rulesOf basis
    | _ -> Exact

let rec private lawOf method =
    match method with
    | AutoInit (_, law) | He (_, law) | Glorot law | Fixup law | SkipInit law -> law
    | TorchDefault -> Uniform
    | Lsuv -> Orthogonal
    | GradInit (basis, _) -> lawOf basis

/// The scaling a method applies on top of its choices (Fixup's), times the given one.
let private scalingOf (method: Method) (scaling: Residuals.Scaling) : Residuals.Scaling =
    match method with
    | Fixup _ -> fun tree layers -> let fixup, given = Residuals.fixup tree layers, scaling tree layers in fun l -> fixup l * given l
    | _ -> scaling

/// The weight variances a method chooses, each multiplied as `scaling` says, with the moments they lead to at
/// every node. The first propagation finds the weighted layers; a second one applies the scaling, so that
/// adaptive methods (AutoInit) see what the scaled layers feed them.
let planScaled (method: Method) (scaling: Residuals.Scaling) (input: Shape) (inputMoments: InputMoments option) (tree: Checked) =
    // SkipInit's α = 0 silences every residual body at initialisation.
    let computed = match method with SkipInit _ -> Residuals.scaleBodies (fun _ -> 0.0) tree | _ -> tree
    let choose = fixedChoice method (slopes tree) (gatedReadoutOf tree)
    let run choose = Propagation.run (rulesOf method) choose input inputMoments computed
    run choose
    |> Result.bind (fun first ->
        let factor = scalingOf method scaling tree (List.map fst first.Layers)
        if first.Layers |> List.forall (fun (l, _) -> factor l = 1.0) then Ok first
        else
            run (fun layer ->
                let chosen, f = choose layer, factor layer
                { chosen with Weight = chosen.Weight * f; Bias = chosen.Bias * f }))

/// The weight variances a method chooses, with the moments it predicts at every node.
let plan (method: Method) (input: Shape) (inputMoments: InputMoments option) (tree: Checked) =
    planScaled method Residuals.unscaled input inputMoments tree

/// Fills a tensor with zero-mean draws of the given variance.
let private fill (law: WeightLaw) (variance: float) (tensor: torch.Tensor) =
    let sd = sqrt variance
    if variance = 0.0 then torch.nn.init.zeros_ tensor |> ignore
    else
        match law with
        | Normal -> torch.nn.init.normal_ (tensor, 0.0, sd) |> ignore
        | TruncatedNormal ->
            // Redraws what falls outside ±2s (TorchSharp 0.107's trunc_normal_ fills a constant).
            use _ = torch.NewDisposeScope ()
            let s = sd / truncatedStd
            torch.nn.init.normal_ (tensor, 0.0, s) |> ignore
            let mutable outside = tensor.abs().gt (Scalar.op_Implicit (2.0 * s))
            while outside.any().item<bool> () do
                tensor.copy_ (torch.where (outside, torch.randn_like tensor * s, tensor)) |> ignore
                outside <- tensor.abs().gt (Scalar.op_Implicit (2.0 * s))
        | Uniform -> torch.nn.init.uniform_ (tensor, -sqrt (3.0 * variance), sqrt (3.0 * variance)) |> ignore
        | Orthogonal when tensor.dim () >= 2L ->
            let rows = tensor.shape[0]
            let columns = tensor.numel () / rows
            torch.nn.init.orthogonal_ (tensor, sqrt (variance * float (max rows columns))) |> ignore
        | Orthogonal -> torch.nn.init.normal_ (tensor, 0.0, sd) |> ignore
        | Weibull ->
            // ±√E with E ~ Exp(1) has E[w²] = 1; the sign is a normal draw's. No Scalar arithmetic: TorchSharp
            // 0.107's double overloads failed now and then ("toFloat") under thousands of draws.
            use _ = torch.NewDisposeScope ()
            let magnitude = torch.empty_like(tensor).exponential_().sqrt ()
            let scale = torch.tensor (sd, dtype = tensor.dtype, device = tensor.device)
            tensor.copy_ (magnitude.mul(torch.randn_like(tensor).sign ()).mul scale) |> ignore

let private parameters (network: Network) =
    network.named_parameters () |> Seq.map (fun struct (name, p) -> name, p) |> Map.ofSeq

/// The weight (and bias) tensors of a weighted layer, looked up among the network's parameters.
let private lookup (all: Map<string, TorchSharp.Modules.Parameter>) (layer: WeightedLayer) =
    let prefix = parameterPrefix layer
    match all.TryFind (prefix + ".weight") with
    | Some weight -> Ok (weight, all.TryFind (prefix + ".bias"))
    | None -> Error (Diagnostic.atPath layer.Path (sprintf "the network has no parameter '%s.weight'" prefix))

let private traverse f items =
    items |> List.fold (fun acc item -> acc |> Result.bind (fun done' -> f item |> Result.map (fun x -> x :: done'))) (Ok []) |> Result.map List.rev

/// The weight (and bias) tensors of a weighted layer.
let tensorsOf (network: Network) (layer: WeightedLayer) = lookup (parameters network) layer

/// Draws every planned layer's weights and biases.
let applyPlan (law: WeightLaw) (layers: (WeightedLayer * WeightVariance) list) (network: Network) =
    use _ = torch.no_grad ()
    let all = parameters network
    layers
    |> traverse (fun (layer, variance) ->
        lookup all layer
        |> Result.map (fun (weight, bias) ->
            fill law variance.Weight weight
            bias |> Option.iter (fun b ->
                fill (if variance.Bias = 0.0 then Normal else Uniform) variance.Bias b
                if variance.BiasMean <> 0.0 then b.add_ (Scalar.op_Implicit variance.BiasMean) |> ignore)))
    |> Result.map ignore

/// Standard deviation of a node's output on a batch, in training mode.
let private outputStd (network: Network) (batch: torch.Tensor) (path: string) =
    use _ = torch.NewDisposeScope ()
    use _ = torch.no_grad ()
    let mutable sd = nan
    network.Observe (batch, fun p y -> if p = path then sd <- y.std().item<float32> () |> float) |> ignore
    sd

/// LSUV's rescaling loop, layer by layer in evaluation order; sepconv rescales its pointwise part.
/// Returns the number of forward passes it made.
let lsuv (layers: WeightedLayer list) (network: Network) (batch: torch.Tensor) =
    network.train ()
    let all = parameters network
    let outputs = layers |> List.filter (fun l -> l.Output)
    outputs
    |> traverse (fun layer ->
        lookup all layer
        |> Result.map (fun (weight, _) ->
            let rec rescale tries =
                let sd = outputStd network batch layer.Path
                if tries >= 10 || abs (sd - 1.0) < 0.1 || not (sd > 0.0) then tries + 1
                else
                    use _ = torch.no_grad ()
                    weight.div_ (Scalar.op_Implicit sd) |> ignore
                    rescale (tries + 1)
            rescale 0))
    |> Result.map List.sum

/// The weight variances a network actually holds: the mean square of each planned tensor.
let realised (network: Network) (layers: WeightedLayer list) =
    use _ = torch.NewDisposeScope ()
    let all = parameters network
    layers
    |> traverse (fun layer ->
        lookup all layer
        |> Result.map (fun (weight, bias) ->
            let meanSquare (t: torch.Tensor) = t.square().mean().item<float32> () |> float
            layer, WeightVariance.centred (meanSquare weight) (bias |> Option.map meanSquare |> Option.defaultValue 0.0)))

/// A method made ready for one network: what it plans, and how to draw one initialisation from it.
type Prepared =
    { Method: Method
      /// The plan's weight variances and the moments they lead to (for LSUV, before its rescaling).
      Plan: Prediction
      /// Draws fresh weights from the torch generator; LSUV then rescales them on the batch, GradInit learns
      /// its scales on its own data.
      Draw: torch.Tensor -> Result<unit, Diagnostic> }

/// Prepares a method whose chosen variances are multiplied as `scaling` says (a residual policy).
let prepareScaled (method: Method) (scaling: Residuals.Scaling) (inputMoments: InputMoments option) (network: Network) =
    planScaled method scaling network.Input inputMoments network.Tree
    |> Result.map (fun prediction ->
        let gains =
            match method with
            | SkipInit _ -> Residuals.residuals network.Tree |> List.map (fun m -> network.ResidualGain m.Path)
            | _ -> []
        let zeroGains () =
            use _ = torch.no_grad ()
            for gain in gains do
                gain.zero_ () |> ignore
        let rec refine method batch =
            match method with
            | Lsuv -> lsuv (prediction.Layers |> List.map fst) network batch |> Result.map ignore
            | GradInit (basis, settings) ->
                refine basis batch
                |> Result.bind (fun () -> Receptor.Core.Signal.GradInit.learn settings network |> Result.map ignore |> Result.mapError (Diagnostic.at Nowhere))
            | _ -> Ok ()
        let draw batch =
            applyPlan (lawOf method) prediction.Layers network
            |> Result.bind (fun () ->
                zeroGains ()
                refine method batch)
        { Method = method; Plan = prediction; Draw = draw })

let prepare (method: Method) (inputMoments: InputMoments option) (network: Network) =
    prepareScaled method Residuals.unscaled inputMoments network

/// The moments a plan's own variances lead to when batch norm takes its statistics over batches of `batch`
/// samples, as it does when measured in training mode.
let predictInBatches (prepared: Prepared) (batch: int) (network: Network) (inputMoments: InputMoments option) =
    let chosen = prepared.Plan.Layers |> List.map (fun (l, v) -> (l.Path, l.Part), v) |> dict
    Propagation.runInBatches (Some batch) (rulesOf prepared.Method) (fun l -> chosen[(l.Path, l.Part)]) network.Input inputMoments network.Tree

/// The moments predicted from the variances a network holds (after LSUV, say): weight variances averaged
/// over the given draws.
let predictRealised (prepared: Prepared) (draws: (WeightedLayer * WeightVariance) list list) (network: Network) (inputMoments: InputMoments option) =
    let n = float draws.Length
    let average =
        draws
        |> List.concat
        |> List.groupBy (fun (l, _) -> l.Path, l.Part)
        |> List.map (fun (key, vs) -> key, WeightVariance.centred ((vs |> List.sumBy (fun (_, v) -> v.Weight)) / n) ((vs |> List.sumBy (fun (_, v) -> v.Bias)) / n))
        |> dict
    Propagation.run (rulesOf prepared.Method) (fun l -> average[(l.Path, l.Part)]) network.Input inputMoments network.Tree

/// Parses a method name as the command line writes it.
let parseMethod (name: string) (rules: Rules) (law: WeightLaw) =
    match name.ToLowerInvariant () with
    | "autoinit" -> Ok (AutoInit (rules, law))
    | "he" | "kaiming" -> Ok (He (FanIn, law))
    | "he-fan-out" -> Ok (He (FanOut, law))
    | "glorot" | "xavier" -> Ok (Glorot law)
    | "torch-default" -> Ok TorchDefault
    | "lsuv" -> Ok Lsuv
    | "fixup" -> Ok (Fixup law)
    | "skipinit" -> Ok (SkipInit law)
    | other -> Error (sprintf "unknown method '%s' (autoinit, he, he-fan-out, glorot, torch-default, lsuv, fixup, skipinit)" other)

/// A method's name as parseMethod reads it (the first of its spellings).
let methodName (method: Method) =
    match method with
    | AutoInit _ -> "autoinit"
    | He (FanIn, _) -> "he"
    | He (FanOut, _) -> "he-fan-out"
    | Glorot _ -> "glorot"
    | TorchDefault -> "torch-default"
    | Lsuv -> "lsuv"
    | Fixup _ -> "fixup"
    | SkipInit _ -> "skipinit"
    | GradInit _ -> "gradinit"

let lawName (law: WeightLaw) =
    match law with
    | Normal -> "normal"
    | TruncatedNormal -> "truncated-normal"
    | Uniform -> "uniform"
    | Orthogonal -> "orthogonal"
    | Weibull -> "weibull"

let parseLaw (name: string) =
    match name.ToLowerInvariant () with
    | "normal" -> Ok Normal
    | "truncated-normal" | "truncated" -> Ok TruncatedNormal
    | "uniform" -> Ok Uniform
    | "orthogonal" -> Ok Orthogonal
    | "weibull" -> Ok Weibull
    | other -> Error (sprintf "unknown weight law '%s' (normal, truncated-normal, uniform, orthogonal, weibull)" other)

let rulesName (rules: Rules) =
    match rules with
    | Exact -> "exact"
    | AutoInit2023 -> "autoinit-2023"

let parseRules (name: string) =
    match name.ToLowerInvariant () with
    | "exact" -> Ok Exact
    | "autoinit-2023" | "autoinit2023" -> Ok AutoInit2023
    | other -> Error (sprintf "unknown rules '%s' (exact, autoinit-2023)" other)
