// How the samples are batched, and why that is exact: Erf.fsi.
namespace Receptor.Core.Fields

open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Data
open Receptor.Core.Torch

type ErfInput =
    | Gaussian
    | Images of Dataset

type ErfWeights =
    | FreshPerSample
    | Shared of (torch.nn.Module -> Result<unit, Diagnostic>)

type ErfRequest =
    { Name: string
      Tree: Node
      Input: Shape
      Layer: string option
      Samples: int
      PerPass: int
      Seed: int64
      Source: ErfInput
      Weights: ErfWeights
      CropToField: bool }

type ErfMap =
    { Values: float[,]
      Samples: int
      Layer: NodeReport
      Region: UnitRegion
      Unbatched: string option
      Crop: Crop option }

module Erf =
    let private frozen (network: Network) =
        for p in network.parameters () do
            p.requires_grad <- false
        // Running statistics keep samples apart; dropout stays on, its masks being part of the average.
        network.eval ()
        for m in network.modules () do
            if m :? TorchSharp.Modules.Dropout then m.train () |> ignore
        network

    /// The network, or its part up to the layer at a path, compiled for an input shape.
    let private compile name input (upTo: string option) tree =
        Shapes.checkNode input tree
        |> Result.bind (fun checkedTree ->
            let cut = upTo |> Option.bind (fun path -> Cone.prefix path checkedTree) |> Option.defaultValue checkedTree
            Network.Compile(name, cut, input))

    /// The inputs of samples [first, first + count) as a (count, c, h, w) tensor, cropped. Noise is drawn for
    /// the whole image, so that a crop sees the pixels the whole image would have.
    let private inputs source (c, h, w) (crop: Crop option) first count =
        let whole =
            match source with
            | Gaussian -> torch.randn [| int64 count; int64 c; int64 h; int64 w |]
            | Images data ->
                let size = Dataset.imageSize data
                torch.tensor(Array.sub data.Images (first * size) (count * size)).reshape [| int64 count; int64 c; int64 h; int64 w |]
        match crop with
        | Some crop ->
            let (top, rows), (left, columns) = crop.Rows, crop.Columns
            whole.narrow(2L, int64 top, int64 rows).narrow (3L, int64 left, int64 columns)
        | None -> whole

    /// Σ over samples of |∂y_c/∂x| summed over channels, from one pass whose input holds `count` samples
    /// as (batch, copies·c, h, w); h and w are the (cropped) input's.
    let private pass (network: Network) (layer: string) (row, column) (x: torch.Tensor) (c, h, w) count =
        use _ = torch.NewDisposeScope()
        let x = x.contiguous().requires_grad_ true
        let mutable output = None
        network.Observe (x, fun path y -> if path = layer then output <- Some y) |> ignore
        let y = output |> Option.defaultWith (fun () -> invalidOp (sprintf "layer %s was never evaluated" layer))
        y.index(torch.TensorIndex.Colon, torch.TensorIndex.Colon, torch.TensorIndex.Single (int64 row), torch.TensorIndex.Single (int64 column))
         .sum()
         .backward ()
        x.grad.reshape([| int64 count; int64 c; int64 h; int64 w |]).abs().sum([| 0L; 1L |]).to_type(torch.float64).data<float>().ToArray()

    let private chunks total size =
        [ for first in 0 .. size .. total - 1 -> first, min size (total - first) ]

    let private validate (request: ErfRequest) (c, h, w) =
        match request.Source with
        | _ when request.Samples < 1 -> Error (Diagnostic.at Nowhere "--samples must be at least 1")
        | _ when request.PerPass < 1 -> Error (Diagnostic.at Nowhere "samples per pass must be at least 1")
        | Images data when (data.Channels, data.Height, data.Width) <> (c, h, w) ->
            Error (
                Diagnostic.at Nowhere (sprintf "the images are %d×%d×%d but the network takes %d×%d×%d" data.Channels data.Height data.Width c h w)
                |> Diagnostic.withHint (sprintf "pass --input %d,%d,%d" data.Channels data.Height data.Width))
        | Images data when data.Count < request.Samples ->
            Error (Diagnostic.at Nowhere (sprintf "%d samples asked for but the data set holds %d images" request.Samples data.Count))
        | _ -> Ok ()

    /// Where the request's unit is and what of the network and input its passes run.
    let private plan (request: ErfRequest) =
        Analysis.ofNode request.Name request.Input request.Tree
        |> Result.bind (fun report ->
            Theoretical.chooseLayer report request.Layer
            |> Result.bind (fun node ->
                Theoretical.region report node (Theoretical.centreUnit node)
                |> Result.bind (fun region ->
                    Shapes.checkNode request.Input request.Tree
                    |> Result.map (fun checkedTree ->
                        let crop =
                            match Cone.prefix node.Path checkedTree with
                            | Some cut when request.CropToField -> Cone.crop report node region cut
                            | _ -> None
                        node, region, crop))))

    let measure (request: ErfRequest) : Result<ErfMap, Diagnostic> =
        let dims =
            match request.Input with
            | Spatial (c, h, w) -> Ok (c, h, w)
            | Flat n -> Error (Diagnostic.at Nowhere (sprintf "the input is flat (%d features); an ERF needs an image" n))
        dims
        |> Result.bind (fun dims -> validate request dims |> Result.map (fun () -> dims))
        |> Result.bind (fun dims -> plan request |> Result.map (fun plan -> dims, plan))
        |> Result.bind (fun ((c, h, w), (node, region, crop)) ->
            let (top, rows), (left, columns), unit =
                match crop with
                | Some crop -> crop.Rows, crop.Columns, crop.Unit
                | None -> (0, h), (0, w), region.Unit
            let sum = Array.zeroCreate (h * w)
            let accumulate (values: float[]) =
                values |> Array.iteri (fun i v -> sum[(top + i / columns) * w + left + i % columns] <- sum[(top + i / columns) * w + left + i % columns] + v)
            let window = c, rows, columns
            torch.manual_seed request.Seed |> ignore
            let run =
                match request.Weights with
                | Shared setWeights ->
                    // The weights are set on the whole network (a checkpoint names every layer), then copied
                    // into the cut one, whose parameter names are a subset.
                    compile request.Name request.Input None request.Tree
                    |> Result.bind (fun whole ->
                        use whole = whole
                        setWeights whole
                        |> Result.bind (fun () -> compile request.Name request.Input (Some node.Path) request.Tree)
                        |> Result.map (fun network ->
                            use network = frozen network
                            network.load_state_dict (whole.state_dict (), strict = false) |> ignore
                            for first, count in chunks request.Samples request.PerPass do
                                use _ = torch.NewDisposeScope()
                                accumulate (pass network node.Path unit (inputs request.Source (c, h, w) crop first count) window count)
                            None))
                | FreshPerSample ->
                    let widened = Widen.node request.PerPass request.Tree
                    let perPass = match widened with Ok _ -> request.PerPass | Error _ -> 1
                    chunks request.Samples perPass
                    |> List.fold
                        (fun state (first, count) ->
                            state
                            |> Result.bind (fun () ->
                                let tree = if count = 1 then Ok request.Tree else Widen.node count request.Tree |> Result.mapError (Diagnostic.at Nowhere)
                                tree
                                |> Result.bind (compile request.Name (Widen.input count request.Input) (Some node.Path))
                                |> Result.map (fun network ->
                                    use network = frozen network
                                    use _ = torch.NewDisposeScope()
                                    // (count, c, h, w) → (1, count·c, h, w): copy k reads sample k.
                                    let x = (inputs request.Source (c, h, w) crop first count).reshape([| 1L; int64 (count * c); int64 rows; int64 columns |])
                                    accumulate (pass network node.Path unit x window count))))
                        (Ok ())
                    |> Result.map (fun () -> match widened with Error why when request.PerPass > 1 -> Some why | _ -> None)
            run
            |> Result.map (fun unbatched ->
                { Values = Array2D.init h w (fun r col -> sum[r * w + col] / float request.Samples)
                  Samples = request.Samples
                  Layer = node
                  Region = region
                  Unbatched = unbatched
                  Crop = crop }))
