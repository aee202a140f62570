// The approximations these rules make are listed in Propagation.fsi; keep them up to date.
module Receptor.Core.Signal.Propagation

open System
open Receptor.Dsl
open Receptor.Core.Signal.Signal
open Receptor.Core.Kinds

let private finite (x: float) = not (Double.IsNaN x || Double.IsInfinity x)

type private RuleSet<'S> =
    { Layer: CheckedLayer -> 'S -> Result<'S, string>
      Merge: CheckedMerge -> 'S list -> Result<'S, string>
      Summary: 'S -> float * float * float }

let private fold (rules: RuleSet<'S>) (input: 'S) (tree: Checked) =
    let nodes = ResizeArray<NodeMoments>()
    let record path op state =
        let mean, variance, offset = rules.Summary state
        if finite mean && finite variance then
            nodes.Add { Path = path; Op = op; Mean = mean; Variance = variance; Offset = offset }
            Ok state
        else Error (Diagnostic.atPath path (sprintf "predicted moments are not finite (mean %g, variance %g)" mean variance))
    let rec walk (state: 'S) node : Result<'S, Diagnostic> =
        match node with
        | CheckedOp layer ->
            rules.Layer layer state
            |> Result.mapError (Diagnostic.atPath layer.Path)
            |> Result.bind (record layer.Path (Printer.layer layer.Layer))
        | CheckedSeq children -> children |> List.fold (fun acc child -> acc |> Result.bind (fun s -> walk s child)) (Ok state)
        | CheckedBranches merge ->
            let branches =
                merge.Branches
                |> List.fold (fun acc b -> acc |> Result.bind (fun done' -> walk state b |> Result.map (fun s -> s :: done'))) (Ok [])
                |> Result.map List.rev
            branches
            |> Result.bind (fun outputs -> rules.Merge merge outputs |> Result.mapError (Diagnostic.atPath merge.Path))
            |> Result.bind (record merge.Path (Naming.mergeName merge.Merge))
    walk input tree |> Result.map (fun _ -> List.ofSeq nodes)

let private exactRules (context: Context) =
    { Layer = fun layer input -> Registry.tryPhases layer |> Result.bind (fun phases -> phases.Moments context layer input)
      Merge = MergeRules.merge context
      Summary = Signal.summary }

let private autoInitRules (context: Context) =
    { Layer = fun layer input -> Registry.tryPhases layer |> Result.bind (fun phases -> phases.AutoInit2023 context layer input)
      Merge = AutoInitRules.merge
      Summary = fun (s: AutoInitRules.Scalar) -> s.Mean, s.Variance, 0.0 }

let runInBatches (batch: int option) (rules: Rules) (choose: WeightedLayer -> WeightVariance) (input: Shape) (inputMoments: InputMoments option) (tree: Checked) =
    let context = { Batch = batch; Ids = Ids(); Choose = choose; Chosen = ResizeArray() }
    let nodes =
        match rules with
        | Exact ->
            let signal =
                match inputMoments with
                | Some m -> Signal.inputOfMaps context.Ids input m.Mean m.Variance
                | None -> Signal.standardInput context.Ids input
            fold (exactRules context) signal tree
        | AutoInit2023 ->
            let mean, variance =
                match inputMoments with
                | Some m ->
                    let mean = Array.average m.Mean
                    mean, (Array.map2 (fun a v -> a * a + v) m.Mean m.Variance |> Array.average) - mean * mean
                | None -> 0.0, 1.0
            fold (autoInitRules context) ({ Mean = mean; Variance = variance; Shape = input }: AutoInitRules.Scalar) tree
    nodes |> Result.map (fun nodes -> { Nodes = nodes; Layers = List.ofSeq context.Chosen })

let run rules choose input inputMoments tree = runInBatches None rules choose input inputMoments tree
