namespace Receptor.Core

open Receptor.Dsl

type NodeReport =
    { Path: string
      Op: string
      Output: Shape
      Parameters: int64
      Macs: int64
      Flops: int64
      Memory: int64
      Field: Field }

type Misalignment = { Path: string; Message: string }

type Totals = { Parameters: int64; Macs: int64; Flops: int64; Memory: int64 }

type AnalysisReport =
    { Name: string
      Input: Shape
      Output: Shape
      Nodes: NodeReport list
      Totals: Totals
      Field: Field
      Misalignments: Misalignment list }

module Analysis =
    let private bytesPerElement = 4L

    // The fold carries (shape, field) forwards and appends one row per node.
    let ofChecked name (input: Shape) (root: Checked) =
        let rows = ResizeArray<NodeReport>()
        let misaligned = ResizeArray<Misalignment>()
        let rec walk (shape, field) node =
            match node with
            | CheckedOp layer ->
                let facts = layer.Facts
                let field = Field.step field facts.Field
                rows.Add
                    { Path = layer.Path
                      Op = Printer.layer layer.Layer
                      Output = facts.Output
                      Parameters = facts.Parameters
                      Macs = facts.Macs
                      Flops = facts.Flops
                      Memory = bytesPerElement * Shape.elements facts.Output
                      Field = field }
                facts.Output, field
            | CheckedSeq nodes -> nodes |> List.fold walk (shape, field)
            | CheckedBranches merge ->
                // A c×1×1 gate broadcast over a larger map (multiply) reads the whole input at every position.
                let broadcast (branchShape, branchField) =
                    match branchShape, merge.Output with
                    | Spatial (_, 1, 1), Spatial (_, h, w) when h * w > 1 -> Global
                    | _ -> branchField
                let fields = merge.Branches |> List.map (walk (shape, field) >> broadcast)
                let field, problems = Field.merge fields
                for p in problems do
                    misaligned.Add { Path = merge.Path; Message = p }
                rows.Add
                    { Path = merge.Path
                      Op = Naming.mergeName merge.Merge
                      Output = merge.Output
                      Parameters = 0L
                      Macs = 0L
                      Flops = merge.Flops
                      Memory = bytesPerElement * Shape.elements merge.Output
                      Field = field }
                merge.Output, field
        let output, field = walk (input, Field.input input) root
        let nodes = List.ofSeq rows
        { Name = name
          Input = input
          Output = output
          Nodes = nodes
          Totals =
            { Parameters = nodes |> List.sumBy (fun n -> n.Parameters)
              Macs = nodes |> List.sumBy (fun n -> n.Macs)
              Flops = nodes |> List.sumBy (fun n -> n.Flops)
              Memory = nodes |> List.sumBy (fun n -> n.Memory) }
          Field = field
          Misalignments = List.ofSeq misaligned }

    let ofNode name input node =
        Shapes.checkNode input node |> Result.map (ofChecked name input)

    let ofProgram (program: Program) =
        Shapes.checkProgram program |> Result.map (ofChecked program.Name program.Input)

    let ofText file text =
        Parser.parseProgram file text |> Result.bind ofProgram
