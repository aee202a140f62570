/// Rewrites of trees that keep what a network computes on shapes. All-convolutional down-sampling
/// (Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for simplicity: the all convolutional net",
/// ICLR workshop): each max pooling (and, if asked, each average pooling) becomes a learnt convolution with
/// the same kernel, stride and padding and as many output channels as it receives, so that every node keeps
/// its output shape.
module Receptor.Dsl.Rewrite

/// The output shape of a concrete sub-tree on an input, when it checks.
let private outputOf input node =
    Shapes.checkNode input node |> Result.toOption |> Option.map (Checked.output input)

let private sizeValue (h, w) = if h = w then Int h else Pair (h, w)

/// The strided convolution standing for a pooling layer on a C×H×W input, if it keeps the pooling's
/// output shape (a ceil-mode window that rounds up has no convolution of the same geometry).
let private convolutionFor (pool: Layer) input =
    match input, LayerCheck.check pool with
    | Spatial (channels, _, _), Ok (_, args) ->
        let stride = args.Pair "stride"
        let given name = pool.Args |> List.tryFind (fun (n, _) -> n = name) |> Option.map snd
        let conv =
            { Kind = "conv"
              Args =
                [ yield "kernel", sizeValue (args.Pair "kernel")
                  yield "out", Int channels
                  if stride <> (1, 1) then yield "stride", sizeValue stride
                  match given "padding" with
                  | Some padding -> yield "padding", padding
                  | None -> () ] }
        if outputOf input (Op conv) = outputOf input (Op pool) then Some conv else None
    | _ -> None

/// The tree with pooling replaced as above, given the input it receives; a sub-tree that does not check is
/// left as it is, as is a pooling that no convolution can stand for. A repeat whose copies would differ
/// (its channel count changes from one copy to the next) is unrolled.
let allConvolutional (includeAverage: bool) (input: Shape) (node: Node) : Node =
    let replaced kind = kind = "maxpool" || (includeAverage && kind = "avgpool")
    let rec rewrite input node =
        match node with
        | Op layer when replaced layer.Kind ->
            convolutionFor layer input |> Option.map Op |> Option.defaultValue node
        | Op _ | Call _ | Choice _ -> node
        | Seq nodes ->
            let rewritten, _ =
                nodes
                |> List.fold (fun (done', shape) child ->
                    match shape with
                    | Some shape -> rewrite shape child :: done', outputOf shape child
                    | None -> child :: done', None) ([], Some input)
            Seq (List.rev rewritten)
        | Branches (merge, nodes) -> Branches (merge, nodes |> List.map (rewrite input))
        | Residual (body, shortcut, scale) -> Residual (rewrite input body, shortcut |> Option.map (rewrite input), scale)
        | Repeat (Int count, body) when count >= 1 && count <= Shapes.maxRepeat ->
            let copies, _ =
                List.init count id
                |> List.fold (fun (done', shape) _ ->
                    match shape with
                    | Some shape -> rewrite shape body :: done', outputOf shape body
                    | None -> body :: done', None) ([], Some input)
            match List.distinct copies with
            | [ same ] -> Repeat (Int count, same)
            | _ -> Seq (List.rev copies)
        | Repeat _ -> node
        | Named (name, body) -> Named (name, rewrite input body)
    rewrite input node

/// A program rewritten with its blocks instantiated (a block's pooling may receive different channel
/// counts at different calls), or the expansion's error.
let allConvolutionalProgram (includeAverage: bool) (program: Program) : Result<Program, Diagnostic> =
    Expand.program program
    |> Result.map (fun body -> { program with Blocks = []; Body = allConvolutional includeAverage program.Input body })
