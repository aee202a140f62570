/// What the analysis says of a candidate before any training, and the constraints that reject it: budgets of
/// parameters and multiply-accumulates, a minimum receptive field, and the signal check (after the chosen
/// initialisation, every node's predicted moments are finite and, if bounds are given, its variance within them).
module Receptor.Search.Constraints

open System
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Signal

type Constraints =
    { MaxParameters: int64 option
      MaxMacs: int64 option
      /// The smaller side of the output units' theoretical receptive field must reach this many pixels.
      MinField: int option
      /// After the study's initialisation, every node's predicted variance before a ReLU-gated readout must lie in
      /// [low, high].
      Variance: (float * float) option }

/// A candidate's analysis, or why it cannot be trained.
type Facts =
    { Parameters: int64
      Macs: int64
      /// The smaller side of the output units' receptive field (0 for a flat input).
      Field: int
      /// Why a constraint rejected it.
      Rejection: string option }

let none = { MaxParameters = None; MaxMacs = None; MinField = None; Variance = None }

let private fieldSide (field: Field) =
    match field with
    | Local (h, w) -> int (min h.Size w.Size)
    | Global -> Int32.MaxValue

/// The signal check's plan: the study's analytic method, or for LSUV and GradInit, which rescale on data, He's
/// draw that they start from.
let private planMethod (init: string) =
    match init with
    | "lsuv" | "gradinit" -> Initialisers.parseMethod "he" Exact Initialisers.Normal
    | name -> Initialisers.parseMethod name Exact Initialisers.Normal

/// The first node whose predicted moments are not finite, or whose variance leaves the bounds (when given),
/// named by its path.
let private signalCheck init (bounds: (float * float) option) (program: Program) (tree: Checked) =
    match planMethod init with
    | Error message -> Some message
    | Ok method ->
        match Initialisers.plan method program.Input None tree with
        | Error diagnostic -> Some $"signal: {Diagnostic.format diagnostic}"
        | Ok prediction ->
            let low, high = bounds |> Option.defaultValue (0.0, Double.PositiveInfinity)
            // The bounds hold up to a ReLU-gated readout, which AutoInit aims lower on purpose (Initialisers.readoutTarget).
            let readout = prediction.Layers |> List.tryFind (fun (_, v) -> v.Target <> Initialisers.target) |> Option.map (fun (l, _) -> l.Path)
            let bounded =
                match readout with
                | Some path -> prediction.Nodes |> List.takeWhile (fun n -> n.Path <> path)
                | None -> prediction.Nodes
            prediction.Nodes
            |> List.tryFind (fun n -> not (Double.IsFinite n.Mean && Double.IsFinite n.Variance))
            |> Option.orElse (bounded |> List.tryFind (fun n -> n.Variance < low || n.Variance > high))
            |> Option.map (fun n -> $"signal: predicted variance {n.Variance:G3} at {n.Path} leaves [{low:G3}, {high:G3}] under {init}")

/// Analyses a sampled network and applies the constraints; a network that does not check (mismatched
/// shapes) is rejected with the checker's message.
let analyse (constraints: Constraints) (init: string) (program: Program) : Facts =
    match Shapes.checkProgram program with
    | Error diagnostic ->
        { Parameters = 0L; Macs = 0L; Field = 0; Rejection = Some (Diagnostic.format diagnostic) }
    | Ok tree ->
        let report = Analysis.ofChecked program.Name program.Input tree
        let field = fieldSide report.Field
        let over limit actual what =
            limit |> Option.bind (fun l -> if actual > l then Some $"{what} {actual:N0} exceed the budget of {l:N0}" else None)
        let rejection =
            over constraints.MaxParameters report.Totals.Parameters "parameters"
            |> Option.orElse (over constraints.MaxMacs report.Totals.Macs "MACs")
            |> Option.orElse (
                constraints.MinField
                |> Option.bind (fun m -> if field < m then Some $"receptive field {field} px is below the minimum of {m} px" else None))
            // Always run: moments that are not finite (an evolved activation that overflows) never train.
            |> Option.orElse (signalCheck init constraints.Variance program tree)
        { Parameters = report.Totals.Parameters
          Macs = report.Totals.Macs
          Field = if field = Int32.MaxValue then 0 else field
          Rejection = rejection }
