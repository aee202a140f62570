/// GradInit (Zhu et al., NeurIPS 2021; github.com/zhuchen03/gradinit): one learnable scale per parameter
/// tensor, learnt so that one step of the anticipated optimiser from the scaled weights lowers the loss
/// on a second batch as far as possible, while the gradient norm on the first batch stays within γ.
/// As the reference code: the step is taken along the detached gradient (first order), an iteration whose
/// gradient norm exceeds γ only pushes that norm down (a second-order gradient), and the scales are
/// themselves moved by Adam with per-scale clipping and a floor (0.01 for weights, 0 for biases).
module Receptor.Core.Signal.GradInit

open TorchSharp
open Receptor.Core.Data
open Receptor.Core.Torch

/// The optimiser whose first step GradInit anticipates: SGD steps along the gradient (its norm is the
/// L2 norm), Adam's first step along its sign (its norm is the L1 norm).
type Anticipated =
    | SgdStep
    | AdamStep

type Settings =
    { Iterations: int
      /// Images in each of the three half-batches an iteration draws: the first batch is halves 1 and 2,
      /// the second halves 1 and 3 (they overlap, as the reference's default).
      HalfBatch: int
      /// η: the step length of the anticipated optimiser.
      Eta: float
      /// γ: the bound on the first batch's gradient norm.
      Gamma: float
      /// Steps along the unit gradient (SGD only).
      NormaliseGradient: bool
      Anticipated: Anticipated
      /// Adam's learning rate for the scales.
      LearningRate: float
      /// The floor of every weight's scale; biases' scales may reach 0.
      MinScale: float
      /// Each scale's gradient is clipped to ±this.
      GradientClip: float
      /// Seeds the order in which half-batches are drawn.
      Seed: int
      Data: Dataset }

/// The reference's settings for networks without normalisation (launch/run_gradinit.sh, VGG-19 without
/// batch norm), with 64-image halves for the CPU.
let defaults data =
    { Iterations = 390
      HalfBatch = 64
      Eta = 0.1
      Gamma = 1.0
      NormaliseGradient = true
      Anticipated = SgdStep
      LearningRate = 1e-2
      MinScale = 0.01
      GradientClip = 1.0
      Seed = 1
      Data = data }

type Report =
    { /// Each parameter tensor's learnt scale, by parameter name.
      Scales: (string * float) list
      /// Iterations that pushed the gradient norm down (it was above γ) and that lowered the post-step loss.
      ConstraintSteps: int
      ObjectiveSteps: int
      /// The first batch's gradient norm at each iteration, before that iteration's update.
      GradientNorms: float list }

/// Adam on one scalar, as the reference's RescaleAdam: β = (0.9, 0.999), ε = 1e-8.
type private AdamState = { Steps: int; Mean: float; Square: float }

let private fresh = { Steps = 0; Mean = 0.0; Square = 0.0 }

let private adam (settings: Settings) floor (gradient: float) (state: AdamState) (scale: float) =
    let g = max -settings.GradientClip (min settings.GradientClip gradient)
    let steps = state.Steps + 1
    let mean = 0.9 * state.Mean + 0.1 * g
    let square = 0.999 * state.Square + 0.001 * g * g
    let corrected = sqrt (square / (1.0 - 0.999 ** float steps)) + 1e-8
    let next = scale - settings.LearningRate / (1.0 - 0.9 ** float steps) * mean / corrected
    max floor next, { Steps = steps; Mean = mean; Square = square }

/// One parameter tensor under GradInit: its initial value, its scale, and Adam's state for each objective.
type private Scaled =
    { Name: string
      Parameter: TorchSharp.Modules.Parameter
      Initial: torch.Tensor
      Floor: float
      /// False for a tensor of zeros, which has no direction to scale.
      Scalable: bool
      mutable Scale: float
      mutable Objective: AdamState
      mutable Constraint: AdamState }

let private inner (a: torch.Tensor) (b: torch.Tensor) =
    use _ = torch.NewDisposeScope ()
    (a * b).sum().item<float32> () |> float

/// Sets every parameter to its scale times its initial value.
let private rescale (tensors: Scaled list) =
    use _ = torch.no_grad ()
    for t in tensors do
        t.Parameter.copy_ (t.Initial * t.Scale) |> ignore

/// Moves each scale by Adam on its gradient ⟨∂objective/∂parameter, initial value⟩, the derivative of
/// the objective along the scale. A scale at 0 stays there, as in the reference.
let private update settings (tensors: Scaled list) (gradients: torch.Tensor list) isConstraint =
    for t, gradient in List.zip tensors gradients do
        if t.Scalable && t.Scale > 0.0 then
            let g = inner gradient t.Initial
            if isConstraint then
                let scale, state = adam settings t.Floor g t.Constraint t.Scale
                t.Scale <- scale
                t.Constraint <- state
            else
                let scale, state = adam settings t.Floor g t.Objective t.Scale
                t.Scale <- scale
                t.Objective <- state
    rescale tensors

let private parametersOf (network: Network) =
    network.named_parameters () |> Seq.map (fun struct (name, p) -> name, p) |> List.ofSeq

let private loss (network: Network) fitted (indices: int[]) =
    let input, target = Batches.tensors fitted indices torch.CPU
    torch.nn.functional.cross_entropy (network.forward input, target)

/// The first batch's gradients (with their graph when asked) and their norm as the anticipated optimiser
/// measures it.
/// The graph is kept when asked: the constraint step differentiates the norm through it.
let private firstGradients settings network fitted (parameters: torch.Tensor list) first createGraph =
    let gradients =
        torch.autograd.grad ([| loss network fitted first |], Array.ofList parameters, retain_graph = createGraph, create_graph = createGraph)
        |> List.ofSeq
    let norm =
        match settings.Anticipated with
        | SgdStep -> (gradients |> List.map (fun g -> g.square().sum()) |> List.reduce (+)).sqrt ()
        | AdamStep -> gradients |> List.map (fun g -> g.abs().sum()) |> List.reduce (+)
    gradients, norm

/// The anticipated optimiser's step for each tensor (detached).
let private steps settings (gradients: torch.Tensor list) (norm: torch.Tensor) =
    gradients
    |> List.map (fun g ->
        let g = g.detach ()
        match settings.Anticipated with
        | SgdStep when settings.NormaliseGradient -> g * settings.Eta / norm.detach ()
        | SgdStep -> g * settings.Eta
        | AdamStep -> g.sign () * settings.Eta)

/// Runs `f` on the network's parameters moved by `steps`, then puts them back.
let private afterStep (parameters: torch.Tensor list) (moves: torch.Tensor list) f =
    let saved = parameters |> List.map (fun p -> p.detach().clone ())
    using (torch.no_grad ()) (fun _ -> for p, s in List.zip parameters moves do p.sub_ s |> ignore)
    try f ()
    finally
        using (torch.no_grad ()) (fun _ -> for p, s in List.zip parameters saved do p.copy_ s |> ignore)

/// GradInit runs in training mode (batch statistics, as the reference's batch norm) with dropout off, and
/// leaves the running statistics of normalisation layers as it found them.
let private inGradInitMode (network: Network) f =
    let buffers = network.named_buffers () |> Seq.map (fun struct (_, b) -> b, b.clone ()) |> List.ofSeq
    network.train ()
    for m in network.modules () do
        match m with
        | :? TorchSharp.Modules.Dropout as dropout -> dropout.eval ()
        | _ -> ()
    try f ()
    finally
        using (torch.no_grad ()) (fun _ -> for b, saved in buffers do b.copy_ saved |> ignore)
        for _, saved in buffers do saved.Dispose ()
        network.train ()

/// Draws the half-batches in a seeded order, epoch after epoch.
let private halfBatches settings count =
    let order = Seq.initInfinite (fun epoch -> Batches.order settings.Seed (epoch + 1) count) |> Seq.concat
    order |> Seq.chunkBySize settings.HalfBatch |> Seq.filter (fun c -> c.Length = settings.HalfBatch)

/// GradInit's loss is the cross-entropy of class scores: the network must end in a flat vector of at least
/// one score per class.
let private checkOutput (network: Network) (data: Dataset) =
    match Receptor.Dsl.Checked.output network.Input network.Tree with
    | Receptor.Dsl.Flat n when n >= data.Classes -> Ok ()
    | Receptor.Dsl.Flat n -> Error $"the network outputs {n} scores but the data has {data.Classes} classes"
    | Receptor.Dsl.Spatial _ ->
        Error $"the network outputs per-pixel maps; GradInit needs a flat vector of class scores (end with flatten >> dense({data.Classes}))"

let private validate settings (network: Network) =
    if settings.Iterations < 1 then Error "GradInit needs at least one iteration"
    elif settings.HalfBatch < 1 || 3 * settings.HalfBatch > settings.Data.Count then
        Error $"GradInit draws three half-batches of {settings.HalfBatch} images; the data has {settings.Data.Count}"
    elif not (settings.Eta > 0.0 && settings.Gamma > 0.0 && settings.LearningRate > 0.0) then
        Error "GradInit's η, γ and learning rate must be positive"
    else
        checkOutput network settings.Data |> Result.bind (fun () -> Batches.fit network.Input settings.Data)

/// Learns the scales and leaves the network holding the scaled weights.
let learn (settings: Settings) (network: Network) : Result<Report, string> =
    validate settings network
    |> Result.map (fun fitted ->
        let named = parametersOf network
        let tensors =
            named
            |> List.map (fun (name, p) ->
                { Name = name
                  Parameter = p
                  Initial = using (torch.no_grad ()) (fun _ -> p.clone ())
                  Floor = (if name.EndsWith "bias" then 0.0 else settings.MinScale)
                  Scalable = inner p p > 0.0 // biases start at zero
                  Scale = 1.0
                  Objective = fresh
                  Constraint = fresh })
        let parameters = named |> List.map (fun (_, p) -> p :> torch.Tensor)
        let halves = (halfBatches settings fitted.Data.Count).GetEnumerator ()
        let next () =
            halves.MoveNext () |> ignore
            halves.Current
        let norms = ResizeArray<float>()
        let mutable constraintSteps = 0
        try
            inGradInitMode network (fun () ->
                for _ in 1 .. settings.Iterations do
                    use _ = torch.NewDisposeScope ()
                    let half1, half2, half3 = next (), next (), next ()
                    let gradients, norm = firstGradients settings network fitted parameters (Array.append half1 half2) true
                    let value = norm.item<float32> () |> float
                    norms.Add value
                    if value > settings.Gamma then
                        constraintSteps <- constraintSteps + 1
                        let pushDown = torch.autograd.grad ([| norm |], Array.ofList parameters) |> List.ofSeq
                        update settings tensors pushDown true
                    else
                        let moves = steps settings gradients norm
                        let afterGradients =
                            afterStep parameters moves (fun () ->
                                let second = loss network fitted (Array.append half1 half3) / settings.Eta
                                torch.autograd.grad ([| second |], Array.ofList parameters) |> List.ofSeq)
                        update settings tensors afterGradients false)
            { Scales = tensors |> List.map (fun t -> t.Name, t.Scale)
              ConstraintSteps = constraintSteps
              ObjectiveSteps = settings.Iterations - constraintSteps
              GradientNorms = List.ofSeq norms }
        finally
            halves.Dispose ()
            for t in tensors do t.Initial.Dispose ())

/// The first batch's gradient norm at the network's present weights, as GradInit measures it.
let gradientNorm (settings: Settings) (network: Network) (first: int[]) : Result<float, string> =
    validate settings network
    |> Result.map (fun fitted ->
        inGradInitMode network (fun () ->
            use _ = torch.NewDisposeScope ()
            let _, norm = firstGradients settings network fitted (parametersOf network |> List.map (fun (_, p) -> p :> torch.Tensor)) first false
            norm.item<float32> () |> float))

/// GradInit's objective at the present weights: the loss on `second` after one anticipated step taken on
/// `first` (the weights are restored afterwards).
let postStepLoss (settings: Settings) (network: Network) (first: int[]) (second: int[]) : Result<float, string> =
    validate settings network
    |> Result.map (fun fitted ->
        inGradInitMode network (fun () ->
            use _ = torch.NewDisposeScope ()
            let parameters = parametersOf network |> List.map (fun (_, p) -> p :> torch.Tensor)
            let gradients, norm = firstGradients settings network fitted parameters first false
            afterStep parameters (steps settings gradients norm) (fun () ->
                use _ = torch.no_grad ()
                (loss network fitted second).item<float32> () |> float)))
