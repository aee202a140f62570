/// From a Dataset to mini-batch tensors: images fitted to the network's declared input (grey images repeated
/// on every channel of a colour network; zero padding or a centre crop, per axis), a seeded order per epoch,
/// and the tensors of one batch.
module Receptor.Core.Data.Batches

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data

/// A dataset whose images have the network's input shape.
type Fitted =
    { Data: Dataset
      /// The shape of one image as the network takes it: [c; h; w], or [n] for a flat input.
      Dims: int64[]
      /// How the images were changed to fit, if they were.
      Note: string option }

/// Where a source row or column lands in a target of another size: a centred offset (positive: padding
/// before, negative: cropped before) and the length that both share.
let private centred source target = (target - source) / 2, min source target

let private describe (data: Dataset) h w =
    let verb source target = if target > source then "padded" elif target < source then "centre-cropped" else "kept"
    let how =
        match verb data.Height h, verb data.Width w with
        | same, other when same = other -> same
        | rows, columns -> $"{rows} (height) and {columns} (width)"
    let padding =
        if h > data.Height || w > data.Width then
            $" with zeros ({max 0 ((h - data.Height) / 2)} rows above, {max 0 ((w - data.Width) / 2)} columns left)"
        else ""
    $"images are {data.Height}×{data.Width}, the network takes {h}×{w}: {how} to {h}×{w}{padding}"

/// Copies each image into an h×w frame, centred: zero padding where the frame is larger, a centre crop
/// where it is smaller.
let private reframe (data: Dataset) h w =
    let dy, rows = centred data.Height h
    let dx, columns = centred data.Width w
    let images = Array.zeroCreate<float32> (data.Count * data.Channels * h * w)
    for plane in 0 .. data.Count * data.Channels - 1 do
        for row in 0 .. rows - 1 do
            let sourceRow = row + max 0 -dy
            let targetRow = row + max 0 dy
            let source = (plane * data.Height + sourceRow) * data.Width + max 0 -dx
            let target = (plane * h + targetRow) * w + max 0 dx
            Array.blit data.Images source images target columns
    { data with Images = images; Height = h; Width = w }

/// Each grey image repeated on `channels` channels, so that a colour network sees the same picture in each.
let private replicate (data: Dataset) channels =
    let plane = data.Height * data.Width
    let images = Array.zeroCreate<float32> (data.Count * channels * plane)
    for n in 0 .. data.Count - 1 do
        for c in 0 .. channels - 1 do
            Array.blit data.Images (n * plane) images ((n * channels + c) * plane) plane
    { data with Images = images; Channels = channels }

/// The dataset fitted to a network input, or why it cannot be.
let fit (input: Shape) (data: Dataset) : Result<Fitted, string> =
    match input with
    | Spatial (c, _, _) when c <> data.Channels && data.Channels <> 1 ->
        Error $"the network takes {c}-channel images, the data has {data.Channels} channel(s)"
    | Spatial (c, h, w) ->
        let coloured, grey =
            if c = data.Channels then data, None
            else replicate data c, Some $"grey images repeated on all {c} channels"
        let framed, framing =
            if h = data.Height && w = data.Width then coloured, None
            else reframe coloured h w, Some (describe data h w)
        let note =
            match List.choose id [ grey; framing ] with
            | [] -> None
            | notes -> Some (String.concat "; " notes)
        Ok { Data = framed; Dims = [| int64 c; int64 h; int64 w |]; Note = note }
    | Flat n when n = Dataset.imageSize data -> Ok { Data = data; Dims = [| int64 n |]; Note = None }
    | Flat n ->
        Error $"the network takes {n} features, the images have {data.Channels}×{data.Height}×{data.Width} = {Dataset.imageSize data}"

/// A seed for one epoch: the same (seed, epoch) always gives the same value, different epochs differ.
let epochSeed (seed: int) (epoch: int) =
    let rng = Rng(seed)
    for _ in 1..epoch do rng.NextUInt64() |> ignore
    int (rng.NextUInt64() >>> 33)

/// The order in which an epoch visits the images: a seeded shuffle.
let order seed epoch count =
    let indices = Array.init count id
    Rng(epochSeed seed epoch).Shuffle indices
    indices

/// The index ranges of the batches of an epoch, in order. When training, a last batch of a single image
/// is dropped: batch normalisation cannot train on one value per channel.
let slices (count: int) (batchSize: int) (training: bool) =
    [| for start in 0 .. batchSize .. count - 1 do
           let size = min batchSize (count - start)
           if not (training && size = 1 && count > 1) then yield start, size |]

/// The images and labels at these positions as tensors on the device: float32 [b; dims…] and int64 [b].
let tensors (fitted: Fitted) (indices: int[]) (device: torch.Device) =
    let data = fitted.Data
    let size = Dataset.imageSize data
    let pixels = Array.zeroCreate<float32> (indices.Length * size)
    indices |> Array.iteri (fun k i -> Array.blit data.Images (i * size) pixels (k * size) size)
    let labels = indices |> Array.map (fun i -> int64 data.Labels[i])
    let shape = Array.append [| int64 indices.Length |] fitted.Dims
    torch.tensor(pixels, System.ReadOnlySpan shape, device = device), torch.tensor(labels, device = device)
