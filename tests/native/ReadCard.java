// libsscard.so from a JVM, as Java counter software loads it (System.load, calls from the JVM's threads), through
// JDK 17's incubating foreign-function API (jdk.incubator.foreign). Run by tests/native/test_jvm.py:
//   SSCARD_LIB=build/libsscard.so java --add-modules jdk.incubator.foreign --enable-native-access=ALL-UNNAMED \
//       tests/native/ReadCard.java THREADS ROUNDS
// Prints (UTF-8) "read <code> <pOutInfo>" (decoded as GBK), "null <code>" for a NULL pOutInfo, "itype <code>" for iType 9,
// then "threads ok" when every call of every thread returned 0 with the same output.
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodType;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.foreign.CLinker;
import jdk.incubator.foreign.FunctionDescriptor;
import jdk.incubator.foreign.MemoryAddress;
import jdk.incubator.foreign.MemorySegment;
import jdk.incubator.foreign.ResourceScope;
import jdk.incubator.foreign.SymbolLookup;

public class ReadCard {
    static final Charset GBK = Charset.forName("GBK");
    static MethodHandle readCardBas;

    static String text(MemorySegment buf) {
        byte[] bytes = buf.toByteArray();
        int n = 0;
        while (n < bytes.length && bytes[n] != 0) n++;
        return new String(bytes, 0, n, GBK);
    }

    static int call(int iType, MemorySegment buf) throws Throwable {
        return (int) readCardBas.invokeExact(iType, buf.address());
    }

    public static void main(String[] args) throws Throwable {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        System.load(System.getenv("SSCARD_LIB"));
        readCardBas = CLinker.getInstance().downcallHandle(
            SymbolLookup.loaderLookup().lookup("iReadCardBas").get(),
            MethodType.methodType(int.class, int.class, MemoryAddress.class),
            FunctionDescriptor.of(CLinker.C_INT, CLinker.C_INT, CLinker.C_POINTER));
        String first;
        try (ResourceScope scope = ResourceScope.newConfinedScope()) {
            MemorySegment buf = MemorySegment.allocateNative(1024, scope);   // SSCARD_OUTINFO_SIZE
            int code = call(3, buf);
            first = text(buf);
            out.println("read " + code + " " + first);
            out.println("null " + (int) readCardBas.invokeExact(3, MemoryAddress.NULL));
            out.println("itype " + call(9, buf));
        }
        int threads = Integer.parseInt(args[0]), rounds = Integer.parseInt(args[1]);
        AtomicInteger bad = new AtomicInteger();
        List<Thread> all = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread th = new Thread(() -> {
                try (ResourceScope scope = ResourceScope.newConfinedScope()) {
                    MemorySegment buf = MemorySegment.allocateNative(1024, scope);
                    for (int i = 0; i < rounds; i++)
                        if (call(3, buf) != 0 || !text(buf).equals(first)) bad.incrementAndGet();
                } catch (Throwable e) {
                    bad.incrementAndGet();
                }
            });
            all.add(th);
            th.start();
        }
        for (Thread th : all) th.join();
        out.println(bad.get() == 0 ? "threads ok" : "threads failed " + bad.get());
    }
}
