/// An initialisation as a user names it (method, rules, weight law, residual policy) and what it takes to
/// apply one: the tree a residual policy compiles, the input it assumes, and the draw. `receptor init` and
/// training (TrainOptions.Start) share it.
namespace Receptor.Core.Signal

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch
open Receptor.Core.Signal.Initialisers
open Receptor.Core.Signal.ResidualPolicies

/// An initialisation, parsed but not yet bound to data: GradInit learns on the images it is applied with.
type InitSpec =
    { /// One of InitSpec.methods.
      Method: string
      /// The propagation's rules (AutoInit's choices depend on them).
      Rules: Rules
      Law: WeightLaw
      Residual: ResidualPolicy option }

/// What an initialisation looks at besides the network.
type InitData =
    /// Standard-normal pixels: the propagation's default input (`receptor init` without --data), and LSUV's
    /// batch. GradInit cannot learn on them.
    | StandardNormal
    /// Labelled images, fitted to the network's input: their per-position moments for the propagation (as
    /// `receptor init --data mnist`), a batch of them for LSUV, all of them for GradInit.
    | Images of Dataset

type InitReport =
    { Spec: InitSpec
      Seed: int
      /// What the propagation assumed of the input.
      Input: string
      /// The weight variances the method chose and the moments it predicts at every node (LSUV and GradInit
      /// rescale afterwards).
      Plan: Prediction }

module InitSpec =
    let methods = [ "autoinit"; "he"; "he-fan-out"; "glorot"; "torch-default"; "lsuv"; "fixup"; "skipinit"; "gradinit" ]

    /// AutoInit under the exact rules, normal weights, no residual policy: what training starts from unless
    /// told otherwise.
    let defaults = { Method = "autoinit"; Rules = Exact; Law = Normal; Residual = None }

    /// A spec from the names the command line uses (`--method`/`--init`, `--rules`, `--law`, `--residual`),
    /// or what is wrong with them.
    let parse (method: string) (rules: string) (law: string) (residual: string option) : Result<InitSpec, string> =
        let policy =
            match residual with
            | None -> Ok None
            | Some name -> ResidualPolicies.parse name |> Result.map Some
        let canonical rules law =
            match method.ToLowerInvariant () with
            | "gradinit" -> Ok "gradinit"
            | name ->
                Initialisers.parseMethod name rules law
                |> Result.map methodName
                |> Result.mapError (fun _ -> sprintf "unknown method '%s' (%s)" method (String.concat ", " methods))
        parseRules rules
        |> Result.bind (fun rules -> parseLaw law |> Result.map (fun law -> rules, law))
        |> Result.bind (fun (rules, law) -> policy |> Result.map (fun residual -> rules, law, residual))
        |> Result.bind (fun (rules, law, residual) ->
            canonical rules law |> Result.map (fun name -> { Method = name; Rules = rules; Law = law; Residual = residual }))

    /// `autoinit (rules exact, law normal, residual sqrt-n)`.
    let describe (spec: InitSpec) =
        let residual = spec.Residual |> Option.map (fun p -> ", residual " + ResidualPolicies.name p) |> Option.defaultValue ""
        $"{spec.Method} (rules {rulesName spec.Rules}, law {lawName spec.Law}{residual})"

module Initialisation =
    /// LSUV rescales on one batch of this many images: the trainer's default batch.
    let lsuvBatch = 64

    /// The data resolved for one network input: moments, fitted images.
    type private Inputs =
        { Moments: InputMoments option
          Fitted: Batches.Fitted option
          Labelled: Dataset option
          Description: string }

    /// The inputs resolved for each dataset (by reference) and input shape: a search initialises many
    /// networks on one training set, and fitting it and measuring its moments took a tenth of a short trial.
    let private resolved = System.Runtime.CompilerServices.ConditionalWeakTable<Dataset, System.Collections.Concurrent.ConcurrentDictionary<Shape, Inputs>>()

    let private inputsOf (data: InitData) (input: Shape) : Result<Inputs, Diagnostic> =
        match data with
        | StandardNormal -> Ok { Moments = None; Fitted = None; Labelled = None; Description = "standard normal" }
        | Images images ->
            let byShape = resolved.GetValue(images, fun _ -> System.Collections.Concurrent.ConcurrentDictionary<Shape, Inputs>())
            match byShape.TryGetValue input with
            | true, inputs -> Ok inputs
            | _ ->
                Batches.fit input images
                |> Result.mapError (fun e -> Diagnostic.at Nowhere $"initialisation data: {e}")
                |> Result.map (fun fitted ->
                    let inputs =
                        { Moments = Some (Measurement.pixelMoments fitted)
                          Fitted = Some fitted
                          Labelled = Some images
                          Description = $"per-position moments of {fitted.Data.Count} images" }
                    byShape[input] <- inputs
                    inputs)

    /// GradInit is made here, with its data: from He's draw (as the reference's networks start), with the
    /// reference's settings; `seeded` sets the order of its batches.
    let methodFor (spec: InitSpec) (labelled: Dataset option) : Result<Method, Diagnostic> =
        match spec.Method, labelled with
        | "gradinit", Some data -> Ok (GradInit (He (FanIn, spec.Law), GradInit.defaults data))
        | "gradinit", None -> Error (Diagnostic.at Nowhere "gradinit learns on labelled images; standard-normal input has no labels")
        | name, _ -> parseMethod name spec.Rules spec.Law |> Result.mapError (Diagnostic.at Nowhere)

    let private methodOf (spec: InitSpec) (inputs: Inputs) = methodFor spec inputs.Labelled

    let private seeded (seed: int) (method: Method) =
        match method with
        | GradInit (basis, settings) -> GradInit (basis, { settings with Seed = seed })
        | other -> other

    /// How the policy scales the method's draw. The other policies act on the tree (compileWith), which
    /// the network must have been compiled from.
    let private scalingOf (spec: InitSpec) =
        match spec.Residual with
        | Some InDegree -> Residuals.inDegree
        | _ -> Residuals.unscaled

    /// LSUV's batch: standard-normal pixels, or the first images of a seeded order.
    let private batchOf (inputs: Inputs) (input: Shape) (seed: int) =
        match inputs.Fitted with
        | None -> Measurement.gaussianOfShape input lsuvBatch
        | Some fitted ->
            let order = Batches.order seed 0 fitted.Data.Count
            fst (Batches.tensors fitted order[.. min lsuvBatch order.Length - 1] torch.CPU)

    let private compileWith (spec: InitSpec) (inputs: Inputs) (program: Program) =
        Shapes.checkProgram program
        |> Result.bind (fun tree ->
            match spec.Residual with
            | None -> Ok tree
            | Some policy ->
                methodOf spec inputs
                |> Result.bind (fun method -> ResidualPolicies.apply policy method program.Input inputs.Moments tree)
                |> Result.map (fun applied -> applied.Tree))
        |> Result.bind (fun tree -> Network.Compile (program.Name, tree, program.Input))
        |> Result.map (fun network ->
            // SkipInit's α are parameters of their own: a checkpoint of a SkipInit network holds them.
            if spec.Method = "skipinit" then
                for residual in Residuals.residuals network.Tree do
                    network.ResidualGain residual.Path |> ignore
            network)

    /// Draws the weights from torch's generator as it stands.
    let private draw (spec: InitSpec) (inputs: Inputs) (seed: int) (network: Network) : Result<InitReport, Diagnostic> =
        methodOf spec inputs
        |> Result.bind (fun method -> prepareScaled (seeded seed method) (scalingOf spec) inputs.Moments network)
        |> Result.bind (fun prepared ->
            use _ = torch.NewDisposeScope ()
            prepared.Draw (batchOf inputs network.Input seed)
            |> Result.map (fun () -> { Spec = spec; Seed = seed; Input = inputs.Description; Plan = prepared.Plan }))

    /// The network a spec initialises, with TorchSharp's default weights: compiled from the tree its
    /// residual policy makes (restore and sqrt-n rescale the sums, zero-gamma starts the last norm of each
    /// residual body at γ = 0; restore plans on the data's moments), with SkipInit's α. A checkpoint of an
    /// initialised network loads into it.
    let compile (spec: InitSpec) (data: InitData) (program: Program) : Result<Network, Diagnostic> =
        inputsOf data program.Input |> Result.bind (fun inputs -> compileWith spec inputs program)

    /// Draws a network's weights as the spec says, seeded: the same seed gives the same weights. The network
    /// must come from `compile` (or `initialise`) with the same spec when its residual policy changes the tree.
    let apply (spec: InitSpec) (seed: int) (data: InitData) (network: Network) : Result<InitReport, Diagnostic> =
        inputsOf data network.Input
        |> Result.bind (fun inputs ->
            torch.manual_seed (int64 seed) |> ignore
            draw spec inputs seed network)

    /// Compiles and initialises in one: torch seeded once, before the compilation, so that the layers no
    /// method plans (normalisation, DynOPool's scales) are as reproducible as the planned ones.
    let initialise (spec: InitSpec) (seed: int) (data: InitData) (program: Program) : Result<Network * InitReport, Diagnostic> =
        inputsOf data program.Input
        |> Result.bind (fun inputs ->
            torch.manual_seed (int64 seed) |> ignore
            compileWith spec inputs program
            |> Result.bind (fun network ->
                match draw spec inputs seed network with
                | Ok report -> Ok (network, report)
                | Error d ->
                    network.Dispose ()
                    Error d))
