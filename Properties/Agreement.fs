/// Checks that what the static analysis says is what TorchSharp computes, for any architecture:
/// parameter counts, every node's output shape, conv/dense MACs recounted from executed shapes, and the
/// theoretical receptive field against the support of the input gradient of a central output unit.
/// Public so that users can run the same checks on their own architectures.
module Receptor.Properties.Agreement

open System.Collections.Generic
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Torch

let private dims shape =
    match shape with
    | Spatial (c, h, w) -> [| int64 c; int64 h; int64 w |]
    | Flat n -> [| int64 n |]

let private compile input node =
    match Network.ofNode "agreement" input node with
    | Ok network -> network
    | Error d -> failwith (Diagnostic.format d)

let private analyse input node =
    match Analysis.ofNode "agreement" input node with
    | Ok report -> report
    | Error d -> failwith (Diagnostic.format d)

/// What disagrees between the analysis and one forward pass (empty when they agree).
let shapesParametersAndMacs (input: Shape) (node: Node) : string list =
    use _ = torch.NewDisposeScope()
    use network = compile input node
    network.eval ()
    let report = analyse input node
    let observed = Dictionary<string, int64[]>()
    use _ = torch.no_grad ()
    let batch = torch.rand (Array.append [| 2L |] (dims input))
    network.Observe (batch, fun path y -> observed[path] <- y.shape[1..]) |> ignore
    let shapeProblems =
        report.Nodes
        |> List.choose (fun n ->
            match observed.TryGetValue n.Path with
            | true, actual when actual = dims n.Output -> None
            | true, actual -> Some (sprintf "%s: analysed %A, executed %A" n.Path (dims n.Output) actual)
            | _ -> Some (sprintf "%s: never executed" n.Path))
    let held = Network.parameterCount network
    let parameterProblems =
        if held = report.Totals.Parameters then []
        else [ sprintf "parameters: analysed %d, module holds %d" report.Totals.Parameters held ]
    // Recount: a 4-d weight costs numel(weight) MACs per output pixel, a 2-d weight numel(weight).
    let layerOf (parameterName: string) =
        let cut = parameterName.LastIndexOf '.'
        parameterName.Substring(0, cut).Replace('.', '/')
    let pathOf = report.Nodes |> List.map (fun n -> n.Path) |> HashSet
    let executedMacs =
        network.named_parameters ()
        |> Seq.sumBy (fun struct (name, p) ->
            match p.shape.Length with
            | 2 -> p.numel ()
            | 4 ->
                // A sepconv's depthwise and pointwise weights sit one level below the layer's path.
                let layer = layerOf name
                let owner = if pathOf.Contains layer then layer else layer.Substring(0, max 0 (layer.LastIndexOf '/'))
                // A network that is one layer registers it under its kind's name at the root path "".
                let output = observed[if observed.ContainsKey owner then owner else ""]
                p.numel () * output[1] * output[2]
            | _ -> 0L)
    let macProblems =
        if executedMacs = report.Totals.Macs then []
        else [ sprintf "MACs: analysed %d, recounted from execution %d" report.Totals.Macs executedMacs ]
    shapeProblems @ parameterProblems @ macProblems

/// What the receptive-field tools may assume of a layer's kind (by name or alias).
let private fieldOf (layer: Layer) =
    Registry.tryFind layer.Kind |> Option.bind (fun kind -> Receptor.Core.Kinds.Registry.field kind.Name)

/// The same wiring with every path made positive and linear, so that the gradient reaches exactly the
/// receptive field: activations, norms, dropout and scales become identities, max becomes mean.
let rec linearise node =
    match node with
    | Op layer ->
        match fieldOf layer |> Option.bind (fun field -> field.Linearised) with
        | Some "identity" -> Combinators.identity
        | Some kind -> Op { layer with Kind = kind }
        | None -> node
    | Seq nodes -> Seq (List.map linearise nodes)
    | Branches (Max, nodes) -> Branches (Mean, List.map linearise nodes)
    | Branches (merge, nodes) -> Branches (merge, List.map linearise nodes)
    | Residual (body, shortcut, _) -> Residual (linearise body, Option.map linearise shortcut, None)
    | Repeat (count, body) -> Repeat (count, linearise body)
    | Named (name, body) -> Named (name, linearise body)
    | Call _ | Choice _ -> node

/// Whether the theoretical field is exact for this tree: each kind says so (FieldBehaviour.Exact; fractional
/// fields of upsampling and adaptive pooling, nominal or maximal extents of deform, DCLS and DynOPool, and
/// the nonlocal operators, which annihilate constants, are not).
let rec hasExactField node =
    match node with
    | Op layer -> fieldOf layer |> Option.forall (fun field -> field.Exact)
    | Seq nodes | Branches (_, nodes) -> List.forall hasExactField nodes
    | Residual (body, shortcut, _) -> hasExactField body && Option.forall hasExactField shortcut
    | Repeat (_, body) | Named (_, body) -> hasExactField body
    | Call _ | Choice _ -> false

/// Whether every merge's paths agree on stride and centre; a misaligned merge has no single field.
let isAligned input node = (analyse input node).Misalignments.IsEmpty

/// The field of output unit u along one axis, unclipped: first and last input index.
let private fieldExtent (axis: AxisField) (u: int) =
    let centre = AxisField.centre axis (float u)
    int (ceil (centre - (axis.Size - 1.0) / 2.0)), int (floor (centre + (axis.Size - 1.0) / 2.0))

/// First and last index with a non-zero value.
let private support (values: float[]) =
    let nonZero = values |> Array.indexed |> Array.filter (fun (_, v) -> v <> 0.0) |> Array.map fst
    if nonZero.Length = 0 then None else Some (Array.head nonZero, Array.last nonZero)

/// The receptive field of the central output unit against the support of its input gradient, on the
/// linearised tree with positive weights: equal where the field lies inside the image, contained in the
/// clipped field where it crosses a border. Returns the disagreements (empty when they agree).
let receptiveField (input: Shape) (node: Node) : string list =
    match input with
    | Flat _ -> []
    | Spatial (_, height, width) ->
        let linear = linearise node
        let report = analyse input linear
        use _ = torch.NewDisposeScope()
        use network = compile input linear
        network.``to`` torch.float64 |> ignore
        network.eval ()
        do
            use _ = torch.no_grad ()
            for p in network.parameters () do
                let fanIn = if p.shape.Length >= 2 then float (p.numel () / p.shape[0]) else 1.0
                p.uniform_ (0.5 / fanIn, 1.0 / fanIn) |> ignore
        let x = (torch.rand(Array.append [| 1L |] (dims input), dtype = torch.float64) + 0.5).requires_grad_(true)
        let y = network.forward x
        let units, selected =
            match report.Output with
            | Spatial (_, oh, ow) ->
                let uh, uw = (oh - 1) / 2, (ow - 1) / 2
                (uh, uw), y.index(torch.TensorIndex.Colon, torch.TensorIndex.Colon, torch.TensorIndex.Single (int64 uh), torch.TensorIndex.Single (int64 uw))
            | Flat _ -> (0, 0), y
        selected.sum().backward ()
        let gradient = x.grad.abs().sum([| 0L; 1L |])
        let rows = gradient.sum(1L).data<float>().ToArray()
        let columns = gradient.sum(0L).data<float>().ToArray()
        let extents =
            match report.Field with
            | Global -> (0, height - 1), (0, width - 1)
            | Local (h, w) -> fieldExtent h (fst units), fieldExtent w (snd units)
        // Inside the image the extremes of the field are reached, so the support spans exactly the field;
        // a unit whose field lies wholly in the padding receives nothing.
        // Across a border a strided or dilated layer may skip the pixels next to it: the support lies within
        // the clipped field, and may be empty (a dilated 2-tap kernel padded around a 1×1 map reads only
        // padding), and then it is empty along the other axis as well.
        let judge axis length (first, last) actual =
            match actual with
            | None when last < 0 || first > length - 1 -> None
            | Some (a, b) when last < 0 || first > length - 1 ->
                Some (sprintf "%s: the field %d..%d lies outside the image, yet the gradient reaches %d..%d" axis first last a b)
            | None when first < 0 || last > length - 1 -> None
            | None -> Some (sprintf "%s: no gradient reaches the input (field %d..%d)" axis first last)
            | Some (a, b) when first >= 0 && last <= length - 1 ->
                if (a, b) = (first, last) then None
                else Some (sprintf "%s: field %d..%d (unit %A, %A), gradient support %d..%d" axis first last units report.Field a b)
            | Some (a, b) ->
                if a >= max 0 first && b <= min (length - 1) last then None
                else Some (sprintf "%s: support %d..%d leaves the clipped field %d..%d (unit %A, %A)" axis a b first last units report.Field)
        let crosses length (first, last) = first < 0 || last > length - 1
        match support rows, support columns with
        // No gradient at all: one axis reading only padding starves the other too.
        | None, None when crosses height (fst extents) || crosses width (snd extents) -> []
        | rowSupport, columnSupport ->
            [ judge "rows" height (fst extents) rowSupport; judge "columns" width (snd extents) columnSupport ]
            |> List.choose id
