/// IDX files, the MNIST format: two zero bytes, a type code, the rank, one big-endian int32 per
/// dimension, then the data. Only unsigned bytes (type 0x08) are read and written here.
module Receptor.Core.Data.Idx

open System
open System.Buffers.Binary
open System.IO

let private unsignedByte = 0x08uy

/// A [0, 1] intensity as a byte: round(v * 255), clamped.
let pixelByte (v: float) = byte (Math.Clamp(Math.Round(v * 255.0, MidpointRounding.AwayFromZero), 0.0, 255.0))

/// Writes an unsigned-byte IDX file with the given dimensions.
let write (path: string) (dims: int[]) (data: byte[]) =
    if Array.fold (*) 1 dims <> data.Length then
        invalidArg (nameof data) $"{data.Length} bytes do not fill dimensions %A{dims}"
    use out = File.Create path
    out.Write(ReadOnlySpan [| 0uy; 0uy; unsignedByte; byte dims.Length |])
    let word = Array.zeroCreate<byte> 4
    for d in dims do
        BinaryPrimitives.WriteInt32BigEndian(Span word, d)
        out.Write word
    out.Write data

/// Reads an unsigned-byte IDX file of the given rank: its dimensions and data. Errors name the file.
let read (path: string) (rank: int) : Result<int[] * byte[], string> =
    let fail message = Error $"{path}: {message}"
    if not (File.Exists path) then
        fail "no such file"
    else
        let bytes = File.ReadAllBytes path
        let header = 4 + 4 * rank
        if bytes.Length < header then
            fail $"too short for an IDX header of rank {rank} ({bytes.Length} bytes)"
        elif bytes[0] <> 0uy || bytes[1] <> 0uy || bytes[2] <> unsignedByte || int bytes[3] <> rank then
            fail $"bad magic number 0x{Convert.ToHexString(bytes, 0, 4)}, expected 0x0000{unsignedByte:X2}{rank:X2} (unsigned bytes, rank {rank})"
        else
            let dims = Array.init rank (fun i -> BinaryPrimitives.ReadInt32BigEndian(ReadOnlySpan(bytes, 4 + 4 * i, 4)))
            // int64 so that a corrupt header cannot overflow the expected size.
            let expected = int64 header + (dims |> Array.fold (fun n d -> n * int64 d) 1L)
            if dims |> Array.exists (fun d -> d < 0) then
                fail $"negative dimension in %A{dims}"
            elif int64 bytes.Length <> expected then
                let what = if int64 bytes.Length < expected then "truncated" else "has trailing bytes"
                fail $"{what}: dimensions %A{dims} need {expected} bytes, the file has {bytes.Length}"
            else
                Ok (dims, Array.sub bytes header (bytes.Length - header))

/// Loads an idx3 images file and its idx1 labels file as one single-channel dataset.
let load (imagesPath: string) (labelsPath: string) : Result<Dataset, string> =
    match read imagesPath 3, read labelsPath 1 with
    | Error e, _
    | _, Error e -> Error e
    | Ok (dims, _), Ok (counts, _) when dims[0] <> counts[0] ->
        Error $"{imagesPath} holds {dims[0]} images but {labelsPath} holds {counts[0]} labels"
    | Ok (dims, pixels), Ok (_, labels) ->
        Ok
            { Images = pixels |> Array.map (fun p -> float32 p / 255.0f)
              Labels = labels |> Array.map int
              Count = dims[0]
              Channels = 1
              Height = dims[1]
              Width = dims[2]
              Classes = if labels.Length = 0 then 0 else int (Array.max labels) + 1 }

/// Saves a single-channel dataset as an idx3 images file and an idx1 labels file.
let save (imagesPath: string) (labelsPath: string) (data: Dataset) =
    if data.Channels <> 1 then invalidArg (nameof data) "IDX images hold one channel"
    if data.Labels |> Array.exists (fun l -> l < 0 || l > 255) then invalidArg (nameof data) "IDX labels are bytes"
    write imagesPath [| data.Count; data.Height; data.Width |] (data.Images |> Array.map (float >> pixelByte))
    write labelsPath [| data.Count |] (data.Labels |> Array.map byte)
