module Receptor.Properties.Main

open Expecto

let all = testList "receptor" [ ZooTests.tests; LanguageTests.tests ]

[<EntryPoint>]
let main argv = runTestsWithCLIArgs [] argv all
